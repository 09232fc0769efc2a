from flask import Blueprint

bp = Blueprint("outbox", __name__, url_prefix="/outbox")

from blueprints.outbox import views  # noqa: E402,F401
