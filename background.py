"""Work done after the answer: emails whose cost must not show in how long a request takes.

A forgot-password or signup request for a known address would otherwise take longer than one for an
unknown address (a token written, a message composed and sent), and that difference tells who has an
account. Both paths hand the same small job to one worker thread per process and answer at once.
"""

from __future__ import annotations

import queue
import threading

from flask import Flask, current_app

_jobs: queue.Queue = queue.Queue()
_worker: threading.Thread | None = None
_lock = threading.Lock()


def _work() -> None:
    while True:
        app, function, args = _jobs.get()
        try:
            with app.app_context():
                function(*args)
        except Exception:  # a job that fails must not stop the ones after it
            app.logger.exception("Background job %s failed", getattr(function, "__name__", function))
        finally:
            _jobs.task_done()


def later(function, *args) -> None:
    """Run `function(*args)` in this app's context on the worker thread, in the order asked."""
    global _worker
    app: Flask = current_app._get_current_object()
    with _lock:
        if _worker is None or not _worker.is_alive():  # started lazily, so each gunicorn worker has its own
            _worker = threading.Thread(target=_work, name="hearth-background", daemon=True)
            _worker.start()
    _jobs.put((app, function, args))


def wait() -> None:
    """Return once every job asked for so far has run (tests; a clean shutdown)."""
    _jobs.join()
