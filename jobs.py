"""Background jobs on Huey: the reminder sweep, every minute; closing room visits whose browsers went away, every
5 minutes (their signalling data holds IP addresses); and the emails sent after an answer
(background.later: signup, confirmation and reset links, whose cost must not show in the answer's time).

Storage: Redis when REDIS_URL is set (every instance and worker on that Redis shares one queue), else a
SQLite file under instance/ (HUEY_SQLITE), with nothing to start. Run the worker with
`huey_consumer worker.huey` (see the README). Several workers are safe: each reminder is claimed in the
app's database, not in Huey, so two workers sweeping at once still send it once.
"""

from __future__ import annotations

from flask import Flask
from huey import RedisHuey, SqliteHuey, crontab

import accounts
import reminders
import rooms

QUEUE = "hearth"


def make_huey(config: dict):
    if config.get("REDIS_URL"):
        return RedisHuey(QUEUE, url=config["REDIS_URL"], results=False)
    return SqliteHuey(QUEUE, filename=config["HUEY_SQLITE"], results=False)


def register(huey, app: Flask) -> dict:
    """The app's tasks on a Huey instance; each runs in an app context of its own."""

    @huey.periodic_task(crontab(minute="*"), name="send_due_reminders")
    def send_due_reminders() -> int:
        with app.app_context():
            return reminders.send_due()

    @huey.periodic_task(crontab(minute="*/5"), name="close_stale_visits")
    def close_stale_visits() -> int:
        with app.app_context():
            return rooms.sweep()

    tasks = {"send_due_reminders": send_due_reminders, "close_stale_visits": close_stale_visits}
    for function in (accounts.send_confirmation, accounts.send_reset_link, accounts.send_signup_attempt):
        tasks[function.__name__] = huey.task(name=function.__name__)(_in_app(app, function))
    return tasks


def _in_app(app: Flask, function):
    def run(*args) -> None:
        with app.app_context():
            function(*args)

    run.__name__ = function.__name__
    return run


def init_app(app: Flask) -> None:
    """Make the app's Huey and register its tasks; the worker finds it as app.extensions["huey"]."""
    huey = make_huey(app.config)
    app.extensions["huey"] = huey
    app.extensions["huey_tasks"] = register(huey, app)
