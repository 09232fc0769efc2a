"""The app for cross-instance tests: the gap between checking a time and writing it is widened, as in
test_concurrency.py, so that a race between instances would surely be lost if nothing prevented it."""

import time

import booking
from app import create_app as _create_app


def create_app():
    original = booking.find_conflict

    def find_conflict_slowly(*args, **kwargs):
        found = original(*args, **kwargs)
        time.sleep(0.05)
        return found

    booking.find_conflict = find_conflict_slowly
    return _create_app()
