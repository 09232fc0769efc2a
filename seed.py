"""Realistic data in bulk, for benchmarks and for trying Hearth with a full practice."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import insert, select, text

import accounts
import links
from extensions import db
from models import Appointment, Client, RoomLink, SessionStatus, Therapist, utcnow

FIRST = [
    "Jane",
    "Mark",
    "Ana",
    "Tomás",
    "Yuki",
    "Amara",
    "Lena",
    "Omar",
    "Priya",
    "Jonas",
    "Chloé",
    "Ivan",
    "Sofia",
    "Kwame",
    "Mei",
    "Lucas",
    "Noor",
    "Eva",
    "Diego",
    "Hana",
]
LAST = [
    "Doe",
    "Novak",
    "Silva",
    "Müller",
    "Okafor",
    "Tanaka",
    "Kowalski",
    "Haddad",
    "Larsen",
    "Rossi",
    "Nguyen",
    "Dubois",
    "Kaur",
    "Petrov",
    "Jensen",
    "García",
    "Ahmed",
    "Svoboda",
    "Kim",
    "Byrne",
]
ZONES = [
    "Europe/Prague",
    "Europe/London",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Europe/Berlin",
    None,
    None,
    None,
]
BATCH = 5000


def _batches(rows: list[dict]):
    for start in range(0, len(rows), BATCH):
        yield rows[start : start + BATCH]


def seed(
    therapists: int,
    clients: int,
    sessions: int,
    *,
    password: str = "correct horse battery",
    progress: Callable[[str], None] = print,
    rng: random.Random | None = None,
) -> list[Therapist]:
    """Create therapists (therapistN@example.com) and share the clients and sessions out between them."""
    rng = rng or random.Random(2026)
    made = [
        accounts.sign_up(
            name=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            email=f"therapist{n + 1}@example.com",
            password=password,
            timezone=rng.choice([z for z in ZONES if z]),
        )
        for n in range(therapists)
    ]
    for therapist in made:  # made by whoever runs the seed, at example.com: their addresses count as confirmed
        therapist.email_confirmed_at = utcnow()
    db.session.commit()
    progress(f"{therapists} therapists")
    for index, therapist in enumerate(made):
        add_practice(
            therapist,
            clients // therapists + (index < clients % therapists),
            sessions // therapists + (index < sessions % therapists),
            rng=rng,
            progress=lambda line, index=index: progress(f"therapist {index + 1}: {line}"),
        )
    return made


def add_practice(
    therapist: Therapist,
    clients: int,
    sessions: int,
    *,
    rng: random.Random | None = None,
    progress: Callable[[str], None] = lambda line: None,
) -> None:
    """Give a therapist clients (each with a room link) and sessions over two years around today.

    Sessions follow one another without overlapping (shorter when there are very many, so that they
    fit); about one in ten is cancelled.
    """
    rng = rng or random.Random(therapist.id)
    now, start = utcnow(), utcnow() - timedelta(days=365)
    client_rows = [
        {
            "therapist_id": therapist.id,
            "name": f"{rng.choice(FIRST)} {rng.choice(LAST)} {n + 1}",
            "email": f"client{therapist.id}-{n + 1}@example.com",
            "timezone": rng.choice(ZONES),
            "note": "",
            "created_at": now,
            "phone": None,
        }
        for n in range(clients)
    ]
    for batch in _batches(client_rows):
        db.session.execute(insert(Client), batch)
    client_ids = list(db.session.scalars(select(Client.id).filter_by(therapist_id=therapist.id).order_by(Client.id)))
    for batch in _batches([{"client_id": cid, "token": links.new_token(), "created_at": now} for cid in client_ids]):
        db.session.execute(insert(RoomLink), batch)
    progress(f"{len(client_ids)} clients")
    if not sessions or not client_ids:
        db.session.commit()
        return
    slot = timedelta(days=730) / sessions
    minutes = max(5, min(50, int(slot.total_seconds() // 60) - 1))
    rows = []
    for n in range(sessions):
        starts = (start + slot * n).replace(second=0, microsecond=0)
        rows.append(
            {
                "therapist_id": therapist.id,
                "client_id": rng.choice(client_ids),
                "starts_at": starts,
                "ends_at": starts + timedelta(minutes=minutes),
                "status": SessionStatus.CANCELLED if rng.random() < 0.1 else SessionStatus.SCHEDULED,
                "uid": f"{links.new_token()}@seed.example.com",
                "sequence": 0,
                "created_at": now,
                "updated_at": now,
            }
        )
    for done, batch in enumerate(_batches(rows), start=1):
        db.session.execute(insert(Appointment), batch)
        if done % 4 == 0:
            progress(f"{min(done * BATCH, sessions)} of {sessions} sessions")
    db.session.commit()
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("ANALYZE"))  # after a bulk load, so the planner knows the tables' sizes
        db.session.commit()
    progress(f"{sessions} sessions of {minutes} minutes")
