"""The therapist's day: Today as the home page, Upcoming and Cancelled, client details, attendance, CSV, the week."""

import csv
import io
from datetime import date, datetime, time, timedelta, timezone

import pytest
from sqlalchemy import select

import booking
import clients
import formats
import schedule
from conftest import add_session, at_midday
from dates import PLAIN_TUESDAY
from extensions import db
from models import Appointment, SessionStatus, Therapist, utcnow


@pytest.fixture
def dana(logged_in):
    return db.session.scalar(select(Therapist).filter_by(email_key="dana@example.com"))


@pytest.fixture
def jane(dana):
    return clients.add(dana, name="Jane Doe", email="jane@example.com", timezone="America/New_York")


def at_local(therapist, day: date, hour: int, minute: int = 0) -> datetime:
    return booking.local_to_utc(day, time(hour, minute), therapist.zone)[0]


def test_login_lands_on_today_and_a_new_therapist_is_shown_the_first_steps(client, therapist):
    from conftest import login

    response = login(client)
    assert response.headers["Location"] == "/sessions/today"
    page = client.get("/sessions/today").get_data(as_text=True)
    assert "Add your first client" in page and "Book a session</a></p>" not in page.split("first-run")[1][:400]
    assert client.get("/").headers["Location"] == "/sessions/today"


def test_with_a_client_but_no_session_today_says_book_a_session(dana, jane, logged_in):
    page = logged_in.get("/sessions/today").get_data(as_text=True)
    assert "Add your first client" not in page and "Next: book your first session" in page


def test_today_lists_todays_sessions_in_order_with_start_prominent_ten_minutes_before(dana, jane, logged_in):
    now = utcnow().replace(second=0, microsecond=0)
    ben = clients.add(dana, name="Ben Ode", email="ben@example.com")
    later = add_session(dana, ben, now + timedelta(minutes=9), minutes=30)  # starts in 9 minutes: prominent
    earlier = add_session(dana, jane, now - timedelta(minutes=120), minutes=45)  # already over: attendance
    tomorrow = add_session(dana, jane, now + timedelta(days=2))
    at_midday(dana)
    day_start = schedule.local_midnight_utc(schedule.local_today(dana), dana)
    assert day_start <= earlier.starts_at and later.starts_at < day_start + timedelta(hours=23)
    page = logged_in.get("/sessions/today").get_data(as_text=True)
    listed = page.split('class="today-list"')[1]
    assert listed.index("Jane Doe") < listed.index("Ben Ode")
    assert "30 min" in page and "45 min" in page
    assert f'class="button primary" href="/room/client/{ben.id}?join=1"' in page  # prominent
    assert "Next session in 9 min" in page or "Next session in 8 min" in page
    assert "Attended" in page and "No-show" in page and "Late cancellation" in page
    assert f'/sessions/{tomorrow.id}"' not in page  # another day


def test_today_shows_confirmed_and_who_is_in_a_room(dana, jane, logged_in):
    import rooms

    now = utcnow()
    at_midday(dana)
    add_session(dana, jane, now + timedelta(minutes=30), confirmed_at=now)
    rooms.join(rooms.client_room(jane), dana, rooms.CLIENT, "Jane", jane)
    page = logged_in.get("/sessions/today").get_data(as_text=True)
    assert "Confirmed by client" in page
    assert "In a room now" in page and "Join Jane" in page


def test_upcoming_lists_scheduled_only_and_cancelled_have_their_own_filter(dana, jane, logged_in):
    start = utcnow() + timedelta(days=3)
    kept = add_session(dana, jane, start)
    dropped = add_session(dana, jane, start + timedelta(hours=2), status=SessionStatus.CANCELLED)
    upcoming = logged_in.get("/sessions/").get_data(as_text=True)
    assert f'/sessions/{kept.id}"' in upcoming and f'/sessions/{dropped.id}"' not in upcoming
    cancelled = logged_in.get("/sessions/?show=cancelled").get_data(as_text=True)
    assert f'/sessions/{dropped.id}"' in cancelled and f'/sessions/{kept.id}"' not in cancelled


def test_client_details_list_the_next_five_and_last_five_sessions(dana, jane, logged_in):
    now = utcnow()
    future = [add_session(dana, jane, now + timedelta(days=n)) for n in range(1, 8)]
    past = [add_session(dana, jane, now - timedelta(days=n)) for n in range(1, 8)]
    page = logged_in.get(f"/clients/{jane.id}").get_data(as_text=True)
    shown = {a.id for a in future + past if f'/sessions/{a.id}"' in page}
    assert shown == {a.id for a in future[:5] + past[:5]}


def test_attendance_can_be_marked_after_the_end_only_and_shows_in_lists(dana, jane, logged_in):
    over = add_session(dana, jane, utcnow() - timedelta(hours=3))
    ahead = add_session(dana, jane, utcnow() + timedelta(hours=3))
    refused = logged_in.post(f"/sessions/{ahead.id}/attendance", {"attendance": "attended"}, htmx=True)
    assert refused.status_code == 422 and "once the session has ended" in refused.get_data(as_text=True)
    assert db.session.get(Appointment, ahead.id).attendance is None
    bad = logged_in.post(f"/sessions/{over.id}/attendance", {"attendance": "maybe"}, htmx=True)
    assert bad.status_code == 422
    done = logged_in.post(f"/sessions/{over.id}/attendance", {"attendance": "no_show"}, htmx=True)
    assert done.status_code == 200 and "Marked: No-show." in done.get_data(as_text=True)
    assert db.session.get(Appointment, over.id).attendance == "no_show"
    assert "No-show" in logged_in.get("/sessions/").get_data(as_text=True)
    assert "No-show" in logged_in.get(f"/clients/{jane.id}").get_data(as_text=True)


def test_csv_export_has_the_marks_and_guards_against_formulas(dana, logged_in):
    evil = clients.add(dana, name="=HYPERLINK(1)", email="evil@example.com")
    over = add_session(dana, evil, at_local(dana, date.today() - timedelta(days=3), 10))
    over.attendance = "late_cancellation"
    db.session.commit()
    first, last = date.today() - timedelta(days=10), date.today()
    response = logged_in.get(f"/sessions/export.csv?from={first}&to={last}")
    assert response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:3] == ["date", "start", "end"]
    assert rows[1][1] == "10:00" and rows[1][5] == "'=HYPERLINK(1)" and rows[1][8] == "Late cancellation"
    backwards = logged_in.get(f"/sessions/export.csv?from={last}&to={first}")
    assert backwards.status_code == 422 and "The end date is before the start date." in backwards.get_data(as_text=True)
    nonsense = logged_in.get("/sessions/export.csv?from=nonsense&to=")
    assert nonsense.status_code == 422 and "Enter both dates" in nonsense.get_data(as_text=True)


def test_week_grid_places_sessions_in_the_therapists_zone_and_hides_cancelled(dana, jane, logged_in):
    monday = schedule.week_start(PLAIN_TUESDAY, "en_GB")
    shown = add_session(dana, jane, at_local(dana, PLAIN_TUESDAY, 9, 30), minutes=50)
    early = add_session(dana, jane, at_local(dana, PLAIN_TUESDAY + timedelta(days=1), 6, 0))
    hidden = add_session(dana, jane, at_local(dana, PLAIN_TUESDAY, 14), status=SessionStatus.CANCELLED)
    week = schedule.week(dana, PLAIN_TUESDAY)
    assert week.first_day == monday and week.hours[0] == time(6, 0) and week.hours[-1] == time(20, 30)
    row = week.hours.index(time(9, 30))
    cell = week.rows[row][1]
    assert [b.id for b in cell.sessions] == [shown.id] and cell.rows == 2 and week.rows[row + 1][1].covered
    assert cell.sessions[0].times == "09:30–10:20" and cell.sessions[0].client_name == "Jane Doe"
    assert all(hidden.id not in [b.id for b in c.sessions] for r in week.rows for c in r)
    page = logged_in.get(f"/sessions/week?date={PLAIN_TUESDAY}").get_data(as_text=True)
    assert f'/sessions/{shown.id}"' in page and f'/sessions/{early.id}"' in page
    assert f'/sessions/{hidden.id}"' not in page
    assert f"/sessions/book?date={PLAIN_TUESDAY}&amp;time=10:30" in page
    assert f"/sessions/book?date={PLAIN_TUESDAY}&amp;time=09:30" not in page  # taken
    fragment = logged_in.get(f"/sessions/week?date={monday + timedelta(days=7)}", htmx=True).get_data(as_text=True)
    assert fragment.startswith('\n<section id="week"') or fragment.lstrip().startswith('<section id="week"')
    assert "<html" not in fragment


def test_booking_form_takes_date_and_time_from_the_week_view(dana, jane, logged_in):
    page = logged_in.get(f"/sessions/book?date={PLAIN_TUESDAY}&time=10:30").get_data(as_text=True)
    assert f'value="{PLAIN_TUESDAY}"' in page and 'value="10:30"' in page
    assert logged_in.get("/sessions/book?date=junk&time=25:99").status_code == 200


def test_week_offers_no_booking_in_the_past(dana, jane, logged_in):
    """A half-hour that is over, or a day gone by, is not a slot to book: booking would refuse it."""
    now = datetime(2030, 6, 5, 10, 0, tzinfo=timezone.utc)  # a Wednesday, 12:00 in Prague
    week = schedule.week(dana, now.date(), at=now)
    assert week.today == now.date()
    row_11, row_12 = week.hours.index(time(11, 30)), week.hours.index(time(12, 0))
    assert week.rows[row_11][2].past and not week.rows[row_12][2].past
    assert week.rows[0][1].past and not week.rows[0][3].past
    page = logged_in.get("/sessions/week").get_data(as_text=True)
    today = schedule.local_today(dana)
    yesterday = today - timedelta(days=1)
    assert f"/sessions/book?date={yesterday}" not in page
    assert (
        f"Book on {today:%a %-d %b}" in page
        and f"/sessions/book?date={today + timedelta(days=1)}&amp;time=07:00" in page
    )
    # the phone's day list
    assert f'<h3 aria-current="date" id="day-{today}"><span class="narrow">{today:%A %-d %B}</span>' in page


def test_week_across_a_clock_change_places_sessions_at_their_local_times(dana, jane, logged_in):
    from dates import EU_AUTUMN, EU_SPRING

    before = add_session(dana, jane, at_local(dana, EU_SPRING - timedelta(days=1), 9, 0))
    after = add_session(dana, jane, at_local(dana, EU_SPRING, 9, 0))
    night = add_session(dana, jane, booking.local_to_utc(EU_AUTUMN, time(2, 30), dana.zone)[0], minutes=30)
    spring = schedule.week(dana, EU_SPRING)
    assert [b.times for b in spring.by_day[EU_SPRING - timedelta(days=1)]] == ["09:00–09:50"]
    assert [b.times for b in spring.by_day[EU_SPRING]] == ["09:00–09:50"]
    autumn = schedule.week(dana, EU_AUTUMN)
    start, end = booking.to_local(night.starts_at, dana.zone), booking.to_local(night.ends_at, dana.zone)
    assert [b.times for b in autumn.by_day[EU_AUTUMN]] == [f"{start:%H:%M}–{end:%H:%M}"]
    assert autumn.by_day[EU_AUTUMN][0].first == 5  # the 02:30 row
    assert before.id and after.id


@pytest.mark.parametrize("value", ["9999-12-31", "0001-01-01", "9999-99-99", "²", "1" * 300, "2026-1²-01"])
def test_week_and_csv_answer_hostile_dates_without_a_500(logged_in, value):
    assert logged_in.get("/sessions/week", query_string={"date": value}).status_code == 200
    assert logged_in.get("/sessions/week", query_string={"date": value}, htmx=True).status_code == 200
    for query in (
        {"from": value, "to": value},
        {"from": "2026-01-01", "to": value},
        {"from": value, "to": "2026-01-01"},
    ):
        response = logged_in.get("/sessions/export.csv", query_string=query)
        assert response.status_code == 422, query
        assert "export" in response.get_data(as_text=True).lower()


# The first day of the week follows the therapist's locale


def day_heads(page: str) -> list[str]:
    """The days as the week's wide grid names them, in order."""
    import re

    return re.findall(r'<span class="wide">([^<]*)</span>', page)


def week_links(page: str) -> list[str]:
    """The dates the Previous week, This week and Next week links ask for."""
    import re

    return re.findall(r'href="/sessions/week\?date=([0-9-]+)"', page)


def test_week_starts_on_monday_in_a_monday_first_locale(dana, jane, logged_in):
    monday = PLAIN_TUESDAY - timedelta(days=1)
    dana.locale = "cs_CZ"
    db.session.commit()
    assert schedule.week_start(PLAIN_TUESDAY, "en_GB") == schedule.week_start(PLAIN_TUESDAY, "cs_CZ") == monday
    week = schedule.week(dana, monday + timedelta(days=6), locale="cs_CZ")  # the Sunday is that week's last day
    assert week.first_day == monday and week.days[-1] == monday + timedelta(days=6)
    page = logged_in.get(f"/sessions/week?date={PLAIN_TUESDAY}").get_data(as_text=True)
    heads = day_heads(page)
    assert [head.split()[0] for head in heads] == ["po", "út", "st", "čt", "pá", "so", "ne"]  # pondělí … neděle
    assert week_links(page)[::2] == [str(monday - timedelta(days=7)), str(monday + timedelta(days=7))]
    assert f"Week of {formats.day(monday, '%a %-d %b %Y', 'cs_CZ')}</h2>" in page  # Babel's words, not strftime's
    assert f"/sessions/book?date={monday}&amp;time=10:30" in page


def test_week_starts_on_sunday_in_a_sunday_first_locale(dana, jane, logged_in):
    sunday = PLAIN_TUESDAY - timedelta(days=2)
    dana.locale = "en_US"
    db.session.commit()
    shown = add_session(dana, jane, at_local(dana, sunday, 15, 0))
    before = add_session(dana, jane, at_local(dana, sunday - timedelta(days=1), 15, 0))  # Saturday: last week
    assert schedule.week_start(PLAIN_TUESDAY, "en_US") == sunday
    week = schedule.week(dana, PLAIN_TUESDAY, locale="en_US")
    assert week.first_day == sunday and week.days == [sunday + timedelta(days=n) for n in range(7)]
    assert [b.id for b in week.by_day[sunday]] == [shown.id]
    assert week.by_day[sunday][0].times == "3:00\u202fPM–3:50\u202fPM"
    assert week.previous == sunday - timedelta(days=7) and week.next == sunday + timedelta(days=7)
    saturday = sunday - timedelta(days=1)
    assert [b.id for b in schedule.week(dana, saturday, locale="en_US").by_day[saturday]] == [before.id]

    # Any day of the week asks for the same week; its links step by whole Sunday-first weeks.
    for day in week.days:
        page = logged_in.get(f"/sessions/week?date={day}").get_data(as_text=True)
        assert f"Week of {formats.day(sunday, '%a %-d %b %Y', 'en_US')}</h2>" in page, day
    named = [formats.day(day, "%a %-d %b", "en_US") for day in week.days]
    assert named[0].startswith("Sun, ") and named[-1].startswith("Sat, ")
    assert day_heads(page) == named
    assert week_links(page)[::2] == [str(sunday - timedelta(days=7)), str(sunday + timedelta(days=7))]
    # The empty slots and the phone's day list: Sunday first, 12-hour clock, Babel's day names.
    assert f"/sessions/book?date={sunday}&amp;time=10:30" in page
    assert f"Book {formats.day(PLAIN_TUESDAY, '%a %-d %b', 'en_US')}, 10:30\u202fAM</span>" in page
    day_list = page.split('<ol class="week-days"')[1]
    assert day_list.index(f"{formats.day(sunday, '%A %-d %B', 'en_US')}") < day_list.index(
        formats.day(saturday + timedelta(days=7), "%A %-d %B", "en_US")
    )
    assert "Sunday, " in day_list and f"/sessions/{shown.id}" in day_list and f"/sessions/{before.id}" not in page
    assert "Times in your zone, Central European Time (Prague)." in page and "Europe/Prague" not in page


def test_sunday_first_week_across_a_clock_change(dana, jane, logged_in):
    """A Sunday-first week whose first day is the night the clocks go forward, and one where they go back."""
    from dates import EU_AUTUMN, EU_SPRING, US_SPRING

    dana.timezone, dana.locale = "America/New_York", "en_US"
    db.session.commit()
    early = add_session(dana, jane, at_local(dana, US_SPRING, 1, 30), minutes=30)  # before the gap (02:00 -> 03:00)
    later = add_session(dana, jane, at_local(dana, US_SPRING, 9, 0))
    saturday = add_session(dana, jane, at_local(dana, US_SPRING - timedelta(days=1), 9, 0))
    week = schedule.week(dana, US_SPRING + timedelta(days=3), locale="en_US")
    assert week.first_day == US_SPRING
    assert [(b.id, b.first, b.times) for b in week.by_day[US_SPRING]] == [
        (early.id, 3, "1:30\u202fAM–3:00\u202fAM"),  # 30 minutes, across the gap
        (later.id, 18, "9:00\u202fAM–9:50\u202fAM"),
    ]
    assert all(saturday.id not in [b.id for b in blocks] for blocks in week.by_day.values())
    page = logged_in.get(f"/sessions/week?date={US_SPRING + timedelta(days=3)}").get_data(as_text=True)
    assert week_links(page)[::2] == [str(US_SPRING - timedelta(days=7)), str(US_SPRING + timedelta(days=7))]
    assert f"/sessions/{early.id}" in page and f"/sessions/{saturday.id}" not in page

    # Monday-first in Prague: the night the clocks change is a Sunday, the last day of the week.
    dana.timezone, dana.locale = "Europe/Prague", "en_GB"
    db.session.commit()
    spring = add_session(dana, jane, at_local(dana, EU_SPRING, 9, 0))
    week = schedule.week(dana, EU_SPRING, locale="en_GB")
    assert week.first_day == EU_SPRING - timedelta(days=6) and week.days[-1] == EU_SPRING
    assert [b.times for b in week.by_day[EU_SPRING] if b.id == spring.id] == ["09:00–09:50"]
    # The same Prague sessions with a Sunday-first locale: that Sunday now opens the week, and the
    # autumn night's second 02:30 sits in the 02:30 row of the week it opens.
    night = add_session(dana, jane, booking.local_to_utc(EU_AUTUMN, time(2, 30), dana.zone)[0], minutes=30)
    assert schedule.week(dana, EU_SPRING, locale="en_US").first_day == EU_SPRING
    autumn = schedule.week(dana, EU_AUTUMN + timedelta(days=6), locale="en_US")
    assert autumn.first_day == EU_AUTUMN and [(b.id, b.first) for b in autumn.by_day[EU_AUTUMN]] == [(night.id, 5)]


# Days over schedule.DAY_LIMIT (a stress case: a real practice has at most about 15 sessions a day)


def a_long_day(therapist, client, ended: int, coming: int) -> list[Appointment]:
    """9-minute sessions every quarter of an hour around now, where it is about noon for the therapist: `ended`
    ones that are over and `coming` ones that are not."""
    at_midday(therapist)
    now = utcnow().replace(second=0, microsecond=0)
    return [
        add_session(therapist, client, now + (n - ended) * timedelta(minutes=15), minutes=9)
        for n in range(ended + coming)
    ]


def test_today_over_the_limit_shows_the_sessions_around_now_and_all_of_them_on_request(dana, jane, logged_in):
    day = a_long_day(dana, jane, 6, 24)
    page = logged_in.get("/sessions/today").get_data(as_text=True)
    assert page.count('<li class="today-item') == schedule.DAY_LIMIT == 20
    shown = [s for s in day if f'href="/sessions/{s.id}"' in page]
    assert shown == day[3:23]  # the last 3 that ended (attendance to mark), then the ones to come
    assert page.count('name="attendance" value="attended"') == 3 and page.count("Start session</a>") == 17
    assert "Showing 20 of 30 sessions today, around now\n    (3 earlier and 7 later not shown)." in page
    assert 'id="today-show-all" class="button" href="/sessions/today?all=1" hx-get="/sessions/today?all=1"' in page
    assert 'hx-get="/sessions/today" hx-trigger="every 30s"' in page
    assert "Next session in 15 min" in page or "Next session in 14 min" in page

    every = logged_in.get("/sessions/today?all=1").get_data(as_text=True)
    assert every.count('<li class="today-item') == 30 and "today-show-all" not in every
    assert all(f'href="/sessions/{s.id}"' in every for s in day)
    assert 'hx-get="/sessions/today?all=1" hx-trigger="every 30s"' in every  # the refresh keeps them all
    assert f'action="/sessions/{day[0].id}/attendance?all=1"' in every  # and so does marking attendance

    # "Show all" (htmx) focuses the list it brings; the 30 s refresh leaves focus alone.
    shown_all = logged_in.get("/sessions/today?all=1", headers={"HX-Request": "true", "HX-Trigger": "today-show-all"})
    fragment = shown_all.get_data(as_text=True)
    assert "<html" not in fragment and fragment.count('<li class="today-item') == 30
    assert 'id="today-sessions" tabindex="-1" aria-label="All 30 sessions today" autofocus>' in fragment
    refreshed = logged_in.get("/sessions/today?all=1", headers={"HX-Request": "true", "HX-Trigger": "today"})
    assert "autofocus" not in refreshed.get_data(as_text=True)

    marked = logged_in.post(
        f"/sessions/{day[0].id}/attendance?all=1", {"attendance": "attended", "from": "today"}, htmx=True
    )
    assert marked.status_code == 200 and marked.get_data(as_text=True).count('<li class="today-item') == 30
    without_js = logged_in.post(f"/sessions/{day[1].id}/attendance?all=1", {"attendance": "attended", "from": "today"})
    assert without_js.status_code == 303 and without_js.headers["Location"] == "/sessions/today?all=1"


def test_today_over_the_limit_late_in_the_day_shows_its_last_sessions(dana, jane, logged_in):
    day = a_long_day(dana, jane, 26, 2)
    page = logged_in.get("/sessions/today").get_data(as_text=True)
    assert [s for s in day if f'href="/sessions/{s.id}"' in page] == day[-20:]
    assert "(8 earlier and 0 later not shown)" in page and "Show all 28 sessions today" in page


def test_today_at_the_limit_shows_every_session_without_a_show_all(dana, jane, logged_in):
    day = a_long_day(dana, jane, 10, schedule.DAY_LIMIT - 10)
    page = logged_in.get("/sessions/today").get_data(as_text=True)
    assert page.count('<li class="today-item') == schedule.DAY_LIMIT and "today-show-all" not in page
    assert all(f'href="/sessions/{s.id}"' in page for s in day)


def test_week_over_the_limit_draws_twenty_a_day_and_links_the_rest(dana, jane, logged_in):
    """25 half-hour sessions on Tuesday from 07:00: 20 drawn, "+5 more" over the rest of the day's busy rows."""
    tuesday = [
        add_session(dana, jane, at_local(dana, PLAIN_TUESDAY, 7 + n // 2, 30 * (n % 2)), minutes=25) for n in range(25)
    ]
    wednesday = add_session(dana, jane, at_local(dana, PLAIN_TUESDAY + timedelta(days=1), 9))
    week = schedule.week(dana, PLAIN_TUESDAY, locale="en_GB")
    blocks = week.by_day[PLAIN_TUESDAY]
    assert [b.id for b in blocks[:-1]] == [s.id for s in tuesday[:20]] and blocks[-1].more == 5
    more = week.rows[week.hours.index(time(17, 0))][1]  # the 21st session's row: 17:00, to 19:25
    assert more.sessions == [blocks[-1]] and more.rows == 5
    assert [b.id for b in week.by_day[PLAIN_TUESDAY + timedelta(days=1)]] == [wednesday.id]

    page = logged_in.get(f"/sessions/week?date={PLAIN_TUESDAY}").get_data(as_text=True)
    assert all(f'href="/sessions/{s.id}"' in page for s in [*tuesday[:20], wednesday])
    assert not any(f'href="/sessions/{s.id}"' in page for s in tuesday[20:])
    label = formats.day(PLAIN_TUESDAY, locale="en_GB")
    assert (
        f'<a class="block more" href="/sessions/week?date={PLAIN_TUESDAY}&amp;all=1#day-{PLAIN_TUESDAY}">+5 more'
        f'<span class="visually-hidden"> sessions on {label}</span></a>'
    ) in page
    assert f'id="day-{PLAIN_TUESDAY}">' in page  # where the link lands
    assert f"/sessions/book?date={PLAIN_TUESDAY}&amp;time=18:00" not in page  # busy, not a slot to book
    assert f"/sessions/book?date={PLAIN_TUESDAY}&amp;time=20:00" in page

    every = logged_in.get(f"/sessions/week?date={PLAIN_TUESDAY}&all=1").get_data(as_text=True)
    assert all(f'href="/sessions/{s.id}"' in every for s in [*tuesday, wednesday])
    assert "block more" not in every


def test_week_at_the_limit_draws_every_session(dana, jane, logged_in):
    tuesday = [add_session(dana, jane, at_local(dana, PLAIN_TUESDAY, 7 + n // 2, 30 * (n % 2)), 25) for n in range(20)]
    blocks = schedule.week(dana, PLAIN_TUESDAY).by_day[PLAIN_TUESDAY]
    assert [b.id for b in blocks] == [s.id for s in tuesday] and not any(b.more for b in blocks)


def test_today_counts_down_to_a_session_after_more_than_the_limit_of_cancelled_ones(dana, jane, logged_in):
    day = a_long_day(dana, jane, 0, schedule.DAY_LIMIT + 2)
    for session in day[:-1]:
        session.status = SessionStatus.CANCELLED
    db.session.commit()
    page = logged_in.get("/sessions/today").get_data(as_text=True)
    assert f'href="/sessions/{day[-1].id}"' not in page  # not among the 20 shown
    start = booking.to_local(day[-1].starts_at, dana.zone)
    assert f"<strong>Jane Doe</strong> at {start:%H:%M}</p>" in page  # today: the time alone
