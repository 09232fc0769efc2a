"""Client details names each series still going on, with its next session: "Weekly on Tuesdays at 09:00 · next
Tue 1 Jun", linking to that session; the line goes when the series is cancelled."""

import re
from datetime import time, timedelta

import booking
import clients
import series
from dates import PLAIN_TUESDAY
from extensions import db


def series_lines(page: str) -> list[tuple[str, str]]:
    """(link, text) of each series line on the pane."""
    return re.findall(r'<li><a href="(/sessions/\d+)">((?:Weekly|Every \d+ weeks) on [^<]*)</a></li>', page)


def test_client_details_show_each_series_with_its_next_session(logged_in, therapist, jordan, smtp):
    weekly, _ = series.book(series.plan(therapist, jordan, PLAIN_TUESDAY, time(9), 50, 1, count=6))
    thursdays = PLAIN_TUESDAY + timedelta(days=2)
    fortnightly, _ = series.book(series.plan(therapist, jordan, thursdays, time(16, 30), 50, 2, count=3))
    other = clients.add(therapist, name="Sam Rivera", email="sam@example.com")
    series.book(series.plan(therapist, other, PLAIN_TUESDAY, time(12), 50, 1, count=2))
    page = logged_in.get(f"/clients/{jordan.id}").get_data(as_text=True)
    assert series_lines(page) == [
        (f"/sessions/{weekly.appointments[0].id}", f"Weekly on Tuesdays at 09:00 · next {PLAIN_TUESDAY:%a %-d %b}"),
        (
            f"/sessions/{fortnightly.appointments[0].id}",
            f"Every 2 weeks on Thursdays at 16:30 · next {thursdays:%a %-d %b}",
        ),
    ]

    # The first session moves to Wednesday 11:00: the series still says Tuesdays at 09:00; next is the moved one.
    first = weekly.appointments[0]
    booking.reschedule(first, booking.slot(therapist, PLAIN_TUESDAY + timedelta(days=1), time(11), 50))
    page = logged_in.get(f"/clients/{jordan.id}", htmx=True).get_data(as_text=True)
    wednesday = PLAIN_TUESDAY + timedelta(days=1)
    assert series_lines(page)[0] == (
        f"/sessions/{first.id}",
        f"Weekly on Tuesdays at 09:00 · next {wednesday:%a %-d %b}",
    )

    # Cancelled whole, the series' line goes; the other stays.
    response = logged_in.post(f"/sessions/{first.id}/cancel", {"version": "1", "scope": "series"})
    assert response.status_code == 303
    page = logged_in.get(f"/clients/{jordan.id}").get_data(as_text=True)
    assert [text for _, text in series_lines(page)] == [
        f"Every 2 weeks on Thursdays at 16:30 · next {thursdays:%a %-d %b}"
    ]
    assert "Weekly on Tuesdays" not in page


def test_the_series_line_skips_a_cancelled_session_and_reads_in_the_therapists_zone(logged_in, therapist, jordan, smtp):
    weekly, _ = series.book(series.plan(therapist, jordan, PLAIN_TUESDAY, time(9), 50, 1, count=3))
    first, second = weekly.appointments[:2]
    assert logged_in.post(f"/sessions/{first.id}/cancel", {"version": "0", "scope": "this"}).status_code == 303
    page = logged_in.get(f"/clients/{jordan.id}").get_data(as_text=True)
    next_day = PLAIN_TUESDAY + timedelta(weeks=1)
    assert series_lines(page) == [
        (f"/sessions/{second.id}", f"Weekly on Tuesdays at 09:00 · next {next_day:%a %-d %b}")
    ]
    # The therapist now works from London: the same sessions, an hour earlier on their clock.
    therapist.timezone = "Europe/London"
    db.session.commit()
    page = logged_in.get(f"/clients/{jordan.id}").get_data(as_text=True)
    assert series_lines(page) == [
        (f"/sessions/{second.id}", f"Weekly on Tuesdays at 08:00 · next {next_day:%a %-d %b}")
    ]
    therapist.timezone = "Europe/Prague"
    db.session.commit()
    # This and following from the 2nd: nothing of the series is ahead any more.
    assert logged_in.post(f"/sessions/{second.id}/cancel", {"version": "0", "scope": "following"}).status_code == 303
    assert series_lines(logged_in.get(f"/clients/{jordan.id}").get_data(as_text=True)) == []
