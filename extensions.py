"""Flask extensions, created here and bound to the app in create_app()."""

from urllib.parse import parse_qsl

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_mail import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from htmx_flask import Htmx
from htmx_flask.requests import HtmxAwareRequest
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase
from werkzeug.formparser import FormDataParser


class Base(DeclarativeBase):
    # Named constraints keep Alembic migrations portable between SQLite and PostgreSQL.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


db = SQLAlchemy(model_class=Base)
migrate = Migrate(render_as_batch=True)
login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address)
mail = Mail()
htmx = Htmx()
babel = Babel()


class _FormDataParser(FormDataParser):
    """Decode undecodable percent-escapes as U+FFFD, which form checks refuse with a message.

    Werkzeug's default keeps them as literal "%FF" text, which would be stored silently.
    """

    def _parse_urlencoded(self, stream, mimetype, content_length, options):
        items = parse_qsl(stream.read().decode(), keep_blank_values=True, errors="replace")
        return stream, self.cls(items), self.cls()


class HearthRequest(HtmxAwareRequest):
    form_data_parser_class = _FormDataParser
