"""Hearth: book therapy sessions and meet clients in a private online room."""

from pathlib import Path

from flask import Blueprint, Flask, render_template
from flask_wtf.csrf import CSRFError
from jinja2 import FileSystemBytecodeCache
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

import blueprints
import commands
import config
import formats
import jobs
import security
from extensions import HearthRequest, babel, csrf, db, htmx, limiter, login_manager, mail, migrate

ROOT = Path(__file__).resolve().parent
MAX_ID = 2**31 - 1  # the largest INTEGER in PostgreSQL


class DatabaseId(IntegerConverter):
    """`<int:…>` in routes: ids a database integer can hold, so a huge one is a 404, not a database error."""

    def __init__(self, map, *args, **kwargs):
        super().__init__(map, min=1, max=MAX_ID)


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.url_map.converters["int"] = DatabaseId
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.from_mapping(config.from_environment(app.instance_path))
    if test_config:
        app.config.from_mapping(test_config)
    # Compiled templates kept on disk: a new worker process renders its first pages without compiling them.
    cache = Path(app.config.get("JINJA_CACHE_DIR") or Path(app.instance_path) / "jinja-cache")
    cache.mkdir(parents=True, exist_ok=True)
    app.jinja_env.bytecode_cache = FileSystemBytecodeCache(str(cache))

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    limiter.init_app(app)
    mail.init_app(app)
    htmx.init_app(app)
    babel.init_app(app, locale_selector=formats.select_locale, default_locale=formats.FALLBACK)
    app.request_class = HearthRequest
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Log in to continue."
    login_manager.session_protection = "basic"

    login_manager.user_loader(security.load_user)

    from blueprints.account import bp as account_bp
    from blueprints.auth import bp as auth_bp
    from blueprints.clients import bp as clients_bp
    from blueprints.outbox import bp as outbox_bp
    from blueprints.public import bp as public_bp
    from blueprints.rooms import bp as rooms_bp
    from blueprints.sessions import bp as sessions_bp

    for blueprint in (public_bp, auth_bp, account_bp, clients_bp, sessions_bp, outbox_bp, rooms_bp):
        app.register_blueprint(blueprint)
    # htmx comes from the npm package `make` installs; nothing third-party is committed.
    app.register_blueprint(
        Blueprint(
            "vendor", __name__, static_folder=str(ROOT / "node_modules/htmx.org/dist"), static_url_path="/vendor/htmx"
        )
    )
    blueprints.init_app(app)
    commands.init_app(app)
    jobs.init_app(app)
    security.init_app(app)
    if app.config["TRUSTED_PROXIES"]:
        security.warn_when_reached_past_the_proxy(app)
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_prefix=hops)
    _register_error_pages(app)
    return app


def _register_error_pages(app: Flask) -> None:
    def page(status: int, title: str, message: str):
        return render_template("errors/error.html", title=title, message=message), status

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return page(400, "This form has expired", "Reload the page and try again. Nothing was changed.")

    @app.errorhandler(400)
    def bad_request(error):
        if isinstance(error, blueprints.BadNumber):
            return page(400, "This address has a number that is not right", f"{error.description} Nothing was changed.")
        return page(400, "Something in this request was not understood", "Go back and try again. Nothing was changed.")

    @app.errorhandler(404)
    def not_found(error):
        return page(404, "Page not found", "This page does not exist, or it is not yours to see.")

    @app.errorhandler(405)
    def wrong_method(error):
        return page(405, "This page cannot do that", "Go back and use the buttons on the page.")

    @app.errorhandler(413)
    def too_large(error):
        return page(413, "That was too much to send", "Shorten what you typed and try again. Nothing was changed.")

    @app.errorhandler(429)
    def too_many(error):
        minutes = round(error.limit.limit.get_expiry() / 60) if getattr(error, "limit", None) else 15
        wait = "up to an hour" if minutes >= 60 else f"{minutes} minutes"
        return page(429, "Too many attempts", f"For your safety, please wait {wait} before trying again.")

    @app.errorhandler(500)
    def server_error(error):
        return page(
            500, "Something went wrong on our side", "Nothing you did caused this. Please try again in a moment."
        )
