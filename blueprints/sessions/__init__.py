from flask import Blueprint

bp = Blueprint("sessions", __name__, url_prefix="/sessions")

from blueprints.sessions import views  # noqa: E402,F401
