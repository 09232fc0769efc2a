from flask import Blueprint

bp = Blueprint("public", __name__)

from blueprints.public import views  # noqa: E402,F401
