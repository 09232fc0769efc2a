"""Work done after the answer: emails whose cost must not show in how long a request takes.

A forgot-password or signup request for a known address would otherwise take longer than one for an
unknown address (a token written, a message composed and sent), and that difference tells who has an
account. Both paths put the same small job on the Huey queue (jobs.py) and answer at once; the worker
(`huey_consumer worker.huey`, which make run and make serve start) composes and sends the email.
"""

from __future__ import annotations

from flask import Flask, current_app


def later(function, *args) -> None:
    """Queue `function(*args)` for the worker; only the functions jobs.py registers can be queued."""
    current_app.extensions["huey_tasks"][function.__name__](*args)


def wait(app: Flask | None = None) -> None:
    """Run here and now every job queued so far (tests look at the mail once the answer is in)."""
    huey = (app or current_app).extensions["huey"]
    while (task := huey.dequeue()) is not None:
        huey.execute(task)
