"""The activity log: every change a therapist makes, with time and IP. Nothing in it is ever edited."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select

from extensions import db
from models import Activity, Therapist

ACTIONS = {
    "login": "Logged in",
    "logout": "Logged out",
    "device_signed_out": "Signed out a device",
    "signed_out_elsewhere": "Signed out everywhere else",
    "password_changed": "Password changed",
    "password_change_refused": "Password change refused",
    "two_factor_setup_started": "Two-factor setup started",
    "two_factor_enabled": "Two-factor login turned on",
    "two_factor_disabled": "Two-factor login turned off",
    "two_factor_failed": "Wrong two-factor code",
    "recovery_codes_downloaded": "Recovery codes downloaded",
    "password_reset": "Password reset by email link",
    "profile_changed": "Profile changed",
    "signup_attempt": "Someone tried to sign up with your address",
    "email_confirmed": "Email address confirmed",
    "email_change_requested": "Email change asked for (waits for the link sent to the new address)",
    "email_changed": "Email address changed",
    "invitation_made": "Invitation link made",
    "personal_link_changed": "Personal link changed",
    "feed_link_replaced": "Calendar link replaced",
    "calendar_delivery_changed": "Calendar choice changed",
    "client_added": "Client added",
    "client_changed": "Client changed",
    "client_archived": "Client archived",
    "client_restored": "Client restored",
    "room_link_replaced": "Room link replaced",
    "session_booked": "Booked a session with",
    "series_booked": "Booked a series:",
    "session_rescheduled": "Moved a session with",
    "session_cancelled": "Cancelled a session with",
    "invites_sent": "Sent",
    "attendance_marked": "Attendance marked",
    "reminder_sent": "Reminder sent again",
    "reminder_settings_changed": "Reminder settings changed",
    "client_reminders_changed": "Client reminders changed",
    "visitor_admitted": "Visitor admitted",
    "visitor_declined": "Visitor declined",
    "removed_from_room": "Removed from room",
}


def sentence(action: str, detail: str) -> str:
    """One line for an entry: "Booked a session with Jordan Ellis, Tue 1 Jun …"; "Client added: Jane Doe"."""
    label = ACTIONS.get(action, action)
    if not detail:
        return label
    return f"{label} {detail}" if label.endswith(("with", "Sent")) else f"{label}: {detail}"


def record(therapist: Therapist | int, action: str, detail: str = "", ip: str = "", *, commit: bool = True) -> None:
    """Add an entry; with commit=False it is saved by the commit that follows (the same transaction)."""
    therapist_id = therapist if isinstance(therapist, int) else therapist.id
    db.session.add(Activity(therapist_id=therapist_id, action=action, detail=detail[:300], ip=ip[:64]))
    if commit:
        db.session.commit()


def recent(therapist: Therapist, limit: int = 200) -> list[Activity]:
    return list(
        db.session.scalars(
            select(Activity)
            .filter_by(therapist_id=therapist.id)
            .order_by(Activity.at.desc(), Activity.id.desc())
            .limit(limit)
        )
    )


def as_csv(therapist: Therapist) -> str:
    """The whole log, oldest first, times in UTC (ISO 8601)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["time_utc", "ip", "action", "detail"])
    for entry in db.session.scalars(
        select(Activity).filter_by(therapist_id=therapist.id).order_by(Activity.at, Activity.id)
    ):
        writer.writerow(
            [
                entry.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                entry.ip,
                ACTIONS.get(entry.action, entry.action),
                safe_cell(entry.detail),
            ]
        )
    return out.getvalue()


def safe_cell(cell: str) -> str:
    """Keep spreadsheet apps from running a cell as a formula (CSV injection)."""
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell
