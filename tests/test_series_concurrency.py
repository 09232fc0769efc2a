"""Overlapping series booked at once: ten requests for weekly series that overlap one another leave no overlap."""

from datetime import timedelta

from sqlalchemy import select

import clients
from dates import PLAIN_TUESDAY
from extensions import db
from models import Appointment, Therapist

REQUESTS = 10


def test_ten_overlapping_series_at_once_leave_no_overlap(app, post_at_once):
    dana = db.session.scalar(select(Therapist))
    jane = clients.add(dana, name="Jane Doe", email="jane@example.com")
    requests = [
        (
            "/sessions/book",
            {
                "client": str(jane.id),
                # Each starts a week later or earlier but every one shares some Tuesday at 14:xx with the others.
                "date": (PLAIN_TUESDAY + timedelta(weeks=index % 3)).isoformat(),
                "start_time": f"14:{index * 3:02d}",
                "length": "50",
                "repeats": "weekly",
                "ends": "count",
                "count": "6",
                "booking_key": f"series-{index}",
            },
        )
        for index in range(REQUESTS)
    ]
    responses = post_at_once(requests)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [422] * (REQUESTS - 1), statuses
    db.session.expire_all()
    rows = db.session.scalars(select(Appointment).order_by(Appointment.starts_at)).all()
    assert len(rows) == 6
    assert all(earlier.ends_at <= later.starts_at for earlier, later in zip(rows, rows[1:], strict=False))
