"""The reminder worker for cross-instance tests (`huey_consumer tests.widened_worker.huey`): the gap between
finding a due reminder and claiming it is widened, so that two workers sweeping at once would surely both
send it if the claim did not stop one of them."""

import time

import reminders
from app import create_app

_due = reminders.due


def _due_slowly(at):
    found = _due(at)
    time.sleep(0.3)
    return found


reminders.due = _due_slowly
app = create_app()
huey = app.extensions["huey"]
