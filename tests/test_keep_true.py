"""Changes keep both calendars true and never fail half-way: every change builds its messages before it is
committed (one that cannot be written changes nothing), and a change to many sessions sends one message per
series (its RRULE event, with a SEQUENCE above every session's own) and one per single session."""

from datetime import datetime, time, timedelta, timezone

import pytest
import recurring_ical_events
from sqlalchemy import func, select

import booking
import clients
import invites
import series
from conftest import calendars, dump
from dates import PLAIN_TUESDAY
from extensions import db
from models import Activity, Appointment, InviteDelivery, utcnow

BAD = "žofie@example.cz"  # stored before non-ASCII local parts were refused: no invite can be written to it


@pytest.fixture
def weekly(six, therapist, jordan, smtp):
    """The six weekly sessions from PLAIN_TUESDAY at 09:00, invited; and one single session that Friday."""
    booked = six
    single = booking.book(therapist, jordan, booking.slot(therapist, PLAIN_TUESDAY + timedelta(days=3), time(15), 50))
    invites.send(single)
    smtp.messages.clear()
    return booked, single


def events(cal):
    return cal.walk("VEVENT")


def spoil_address(client):
    client.email = BAD
    db.session.commit()


# One message per series, one per single session


def test_replace_link_sends_the_series_once_with_the_new_link_and_the_single_session_once(logged_in, weekly, smtp):
    whole, single = weekly
    response = logged_in.post(f"/clients/{whole.client_id}/room-link", htmx=True)
    assert response.status_code == 200
    assert "7 upcoming sessions updated with the new link" in response.get_data(as_text=True)
    link = clients.room_url(whole.client)
    sent = calendars(smtp, "jordan@example.com")
    assert len(sent) == 2  # the series as one event, and the single session: not seven messages
    by_uid = {str(events(cal)[0]["UID"]): cal for cal in sent}
    assert set(by_uid) == {whole.uid, single.uid}
    master = events(by_uid[whole.uid])[0]
    assert "RRULE" in master and "RECURRENCE-ID" not in master and by_uid[whole.uid]["METHOD"] == "REQUEST"
    assert str(master["LOCATION"]) == link and link in str(master["DESCRIPTION"])
    assert master["SEQUENCE"] > max(a.sequence - 1 for a in whole.appointments)
    assert str(events(by_uid[single.uid])[0]["LOCATION"]) == link
    assert len(calendars(smtp, "dana@example.com")) == 2


def test_archive_cancels_the_series_by_its_uid(logged_in, weekly, smtp):
    whole, single = weekly
    response = logged_in.post(
        f"/clients/{whole.client_id}/archive", {"cancel_sessions": "1", "message": "Take care"}, htmx=True
    )
    assert response.status_code == 200 and "7 upcoming sessions cancelled" in response.get_data(as_text=True)
    sent = calendars(smtp, "jordan@example.com")
    assert {cal["METHOD"] for cal in sent} == {"CANCEL"} and len(sent) == 2
    (series_cancel,) = [cal for cal in sent if str(events(cal)[0]["UID"]) == whole.uid]
    (event,) = events(series_cancel)
    assert "RECURRENCE-ID" not in event and "RRULE" in event and str(event["STATUS"]) == "CANCELLED"


def test_an_email_change_moves_the_series_as_one_cancel_and_one_invite(logged_in, weekly, smtp):
    whole, _ = weekly
    form = {"edit-name": "Jordan Ellis", "edit-email": "jordan.new@example.com", "edit-timezone": "America/New_York"}
    assert logged_in.post(f"/clients/{whole.client_id}/edit", form).status_code == 303
    old = calendars(smtp, "jordan@example.com")
    new = calendars(smtp, "jordan.new@example.com")
    assert len(old) == 2 and len(new) == 2
    (old_series,) = [cal for cal in old if str(events(cal)[0]["UID"]) == whole.uid]
    (new_series,) = [cal for cal in new if str(events(cal)[0]["UID"]) == whole.uid]
    assert old_series["METHOD"] == "CANCEL" and "RECURRENCE-ID" not in events(old_series)[0]
    assert new_series["METHOD"] == "REQUEST" and "RRULE" in events(new_series)[0]
    assert events(new_series)[0]["SEQUENCE"] > events(old_series)[0]["SEQUENCE"] - 1


def test_a_series_update_is_numbered_above_a_session_moved_on_its_own(logged_in, weekly, smtp):
    """A calendar that keeps the third session's own version n ignores a series update numbered n or lower."""
    whole, _ = weekly
    third = whole.appointments[2]
    for version, hour in ((0, "10:00"), (1, "11:00")):
        moved = {"date": third.starts_at.date().isoformat(), "start_time": hour, "length": "50"}
        moved |= {"version": str(version), "scope": "this"}
        assert logged_in.post(f"/sessions/{third.id}/reschedule", moved, htmx=True).status_code == 200
    assert third.sequence == 2 and whole.sequence == 0
    smtp.messages.clear()
    assert logged_in.post(f"/clients/{whole.client_id}/room-link", htmx=True).status_code == 200
    (sent,) = [cal for cal in calendars(smtp, "jordan@example.com") if str(events(cal)[0]["UID"]) == whole.uid]
    master, *overrides = events(sent)
    assert [o.decoded("RECURRENCE-ID").hour for o in overrides] and overrides[0]["SEQUENCE"] == 3
    assert master["SEQUENCE"] > max(o["SEQUENCE"] for o in overrides)


def test_resend_failed_sends_a_series_once_to_whom_it_failed(logged_in, weekly, smtp):
    whole, single = weekly
    smtp.fault = "refuse"
    page = logged_in.post(f"/clients/{whole.client_id}/room-link", htmx=True).get_data(as_text=True)
    assert "Resend failed invites" in page
    smtp.fault = None
    response = logged_in.post(f"/clients/{whole.client_id}/resend-failed", htmx=True)
    assert "7 upcoming sessions sent again." in response.get_data(as_text=True)
    for address in ("jordan@example.com", "dana@example.com"):
        sent = calendars(smtp, address)
        assert sorted(str(events(cal)[0]["UID"]) for cal in sent) == sorted([whole.uid, single.uid])
    (again,) = [cal for cal in calendars(smtp, "jordan@example.com") if str(events(cal)[0]["UID"]) == whole.uid]
    assert "RRULE" in events(again)[0] and str(events(again)[0]["LOCATION"]) == clients.room_url(whole.client)
    assert "Resend failed invites" not in logged_in.get(f"/clients/{whole.client_id}").get_data(as_text=True)


# A message that cannot be written changes nothing


def refused(response, nothing="Nothing was changed."):
    page = response.get_data(as_text=True)
    assert response.status_code == 422, page
    assert f"The invite to Jordan Ellis ({BAD}) cannot be sent." in page and nothing in page


@pytest.mark.parametrize("htmx", [True, False])
def test_a_change_whose_message_cannot_be_written_changes_nothing(logged_in, therapist, jordan, smtp, htmx):
    appointment = booking.book(therapist, jordan, booking.slot(therapist, PLAIN_TUESDAY, time(14), 50))
    spoil_address(jordan)
    before = dump()
    moved = {"date": PLAIN_TUESDAY.isoformat(), "start_time": "16:00", "length": "50", "version": "0"}
    refused(logged_in.post(f"/sessions/{appointment.id}/reschedule", moved, htmx=htmx))
    refused(logged_in.post(f"/sessions/{appointment.id}/cancel", {"version": "0"}, htmx=htmx))
    refused(logged_in.post(f"/clients/{jordan.id}/room-link", htmx=htmx))
    refused(logged_in.post(f"/clients/{jordan.id}/archive", {"cancel_sessions": "1"}, htmx=htmx))
    assert dump() == before  # the old link, the time, the status and every SEQUENCE stay as they were
    assert smtp.messages == []
    jordan.email = "jordan@example.com"  # corrected: the same reschedule goes through, and both updates go
    db.session.commit()
    assert logged_in.post(f"/sessions/{appointment.id}/reschedule", moved, htmx=True).status_code == 200
    assert smtp.to("jordan@example.com") and smtp.to("dana@example.com")


def test_a_series_change_whose_message_cannot_be_written_changes_nothing(logged_in, weekly, smtp):
    whole, _ = weekly
    spoil_address(whole.client)
    before = dump()
    third = whole.appointments[2]
    for scope in ("following", "series"):
        refused(logged_in.post(f"/sessions/{third.id}/cancel", {"version": "0", "scope": scope}, htmx=True))
    moved = {"date": third.starts_at.date().isoformat(), "start_time": "11:00", "length": "50", "version": "0"}
    refused(logged_in.post(f"/sessions/{third.id}/reschedule", moved | {"scope": "following"}, htmx=True))
    assert dump() == before and smtp.messages == []


def test_a_series_whose_invite_cannot_be_written_is_not_booked(logged_in, jordan, smtp):
    spoil_address(jordan)
    before = dump()
    form = {"client": str(jordan.id), "date": PLAIN_TUESDAY.isoformat(), "start_time": "09:00", "length": "50"}
    form |= {"repeats": "weekly", "ends": "count", "count": "6", "booking_key": "series-key-1"}
    refused(logged_in.post("/sessions/book", form, htmx=True), "Nothing was booked.")
    assert dump() == before and smtp.messages == []


# A change and its activity entry are stored in one commit


@pytest.fixture
def sending_breaks(monkeypatch):
    """Sending fails outright after the commit (a bug, a dead process): what was committed must already be whole."""

    def deliver(outgoing, **kwargs):
        raise RuntimeError("the process died while sending")

    monkeypatch.setattr(invites, "deliver", deliver)


def entries(action):
    db.session.expire_all()
    return list(db.session.scalars(select(Activity.detail).filter_by(action=action)))


def test_a_booking_and_its_entry_are_stored_together(logged_in, jordan, sending_breaks):
    form = {"client": str(jordan.id), "date": PLAIN_TUESDAY.isoformat(), "start_time": "14:00", "length": "50"}
    with pytest.raises(RuntimeError):
        logged_in.post("/sessions/book", form | {"booking_key": "key-1"}, htmx=True)
    assert db.session.scalar(select(func.count()).select_from(Appointment)) == 1
    assert [detail.split(",")[0] for detail in entries("session_booked")] == ["Jordan Ellis"]


def test_a_client_change_and_its_entry_are_stored_together(logged_in, weekly, sending_breaks):
    whole, _ = weekly
    old_link = clients.room_url(whole.client)
    with pytest.raises(RuntimeError):
        logged_in.post(f"/clients/{whole.client_id}/room-link", htmx=True)
    assert clients.room_url(whole.client) != old_link and entries("room_link_replaced") == ["Jordan Ellis"]
    with pytest.raises(RuntimeError):
        logged_in.post(f"/clients/{whole.client_id}/archive", {"cancel_sessions": "1"}, htmx=True)
    assert entries("client_archived") == ["Jordan Ellis"] and len(entries("session_cancelled")) == 7


def test_a_this_and_following_move_and_its_entry_are_stored_together(logged_in, weekly, sending_breaks):
    whole, _ = weekly
    third = whole.appointments[2]
    form = {"date": third.starts_at.date().isoformat(), "start_time": "11:00", "length": "50", "version": "0"}
    with pytest.raises(RuntimeError):
        logged_in.post(f"/sessions/{third.id}/reschedule", form | {"scope": "following"}, htmx=True)
    assert db.session.scalar(select(func.count()).select_from(series.Series)) == 2
    assert [detail.split(":")[0] for detail in entries("session_rescheduled")] == ["this and following"]


# Every message about one UID is numbered above the last one sent about it


def check_numbering(inbox, address):
    """Per UID, in the order sent: a session's own message (RECURRENCE-ID) is numbered above the last one for
    that session and above the last series message; a series message above every number sent for the UID."""
    last_master, last_instance = {}, {}
    for cal in calendars(inbox, address):
        event = events(cal)[0]
        uid, number = str(event["UID"]), int(event["SEQUENCE"])
        if "RECURRENCE-ID" in event:
            key = (uid, event.decoded("RECURRENCE-ID"))
            assert number > max(last_instance.get(key, -1), last_master.get(uid, -1)), (address, key, number)
            last_instance[key] = number
        else:
            seen = [n for (u, _), n in last_instance.items() if u == uid] + [last_master.get(uid, -1)]
            assert number > max(seen), (address, uid, number, seen)
            last_master[uid] = number


def move(logged_in, appointment, hour, scope="this"):
    form = {"date": appointment.starts_at.date().isoformat(), "start_time": hour, "length": "50"}
    form |= {"version": str(appointment.sequence), "scope": scope}
    response = logged_in.post(f"/sessions/{appointment.id}/reschedule", form, htmx=True)
    assert response.status_code == 200, response.get_data(as_text=True)


def test_sequences_only_go_up_through_one_session_and_whole_series_changes(logged_in, weekly, smtp):
    whole, _ = weekly
    rows = list(whole.appointments)
    move(logged_in, rows[2], "10:00")
    move(logged_in, rows[2], "11:00")
    assert logged_in.post(f"/clients/{whole.client_id}/room-link", htmx=True).status_code == 200
    move(logged_in, rows[1], "12:00")  # one session, after the series went out numbered above the third's
    form = {"version": str(rows[3].sequence), "scope": "this"}
    assert logged_in.post(f"/sessions/{rows[3].id}/cancel", form).status_code == 303
    move(logged_in, rows[4], "13:00")
    move(logged_in, rows[4], "14:00")
    move(logged_in, rows[2], "15:00", scope="following")  # the original ends before the 3rd: above the 5th's own
    for address in ("jordan@example.com", "dana@example.com"):
        check_numbering(smtp, address)


def test_archive_keeps_the_sessions_that_took_place_in_both_calendars(logged_in, weekly, smtp):
    whole, _ = weekly
    rows = list(whole.appointments)
    weeks = (rows[2].ends_at - utcnow()).days // 7 + 1  # as if booked earlier: the first 3 sessions took place
    whole.starts_local -= timedelta(weeks=weeks)
    for row, moment in zip(rows, series.starts(whole), strict=True):
        row.starts_at = row.recurrence_id = moment
        row.ends_at = moment + timedelta(minutes=50)
    db.session.commit()
    past = [row.starts_at for row in rows if row.ends_at <= utcnow()]
    assert len(past) == 3
    response = logged_in.post(f"/clients/{whole.client_id}/archive", {"cancel_sessions": "1"}, htmx=True)
    assert response.status_code == 200
    (sent,) = [cal for cal in calendars(smtp, "jordan@example.com") if str(events(cal)[0]["UID"]) == whole.uid]
    assert sent["METHOD"] == "REQUEST"  # ends earlier: a CANCEL of the UID would take the past ones away
    everything = recurring_ical_events.of(sent).between(datetime(2000, 1, 1), datetime(2100, 1, 1))
    assert sorted(e.decoded("DTSTART").astimezone(timezone.utc) for e in everything) == past


def test_an_email_change_is_logged_on_the_sessions_that_moved(logged_in, weekly, smtp):
    whole, single = weekly
    rows = list(whole.appointments)
    assert logged_in.post(f"/sessions/{rows[1].id}/cancel", {"version": "0", "scope": "this"}).status_code == 303
    before = db.session.scalar(select(func.max(InviteDelivery.id)))
    form = {"edit-name": "Jordan Ellis", "edit-email": "jordan.new@example.com", "edit-timezone": "America/New_York"}
    assert logged_in.post(f"/clients/{whole.client_id}/edit", form).status_code == 303
    cancels = db.session.scalars(
        select(InviteDelivery).where(InviteDelivery.id > before, InviteDelivery.method == "CANCEL")
    ).all()
    assert {d.recipient for d in cancels} == {"jordan@example.com"}
    moved = [a.id for a in rows if a.id != rows[1].id] + [single.id]  # not the session cancelled before
    assert sorted(d.appointment_id for d in cancels) == sorted(moved)
    subjects = [str(m["Subject"]) for m in smtp.to("jordan@example.com")]
    assert not any(s.startswith("Cancelled: Updated:") for s in subjects)
