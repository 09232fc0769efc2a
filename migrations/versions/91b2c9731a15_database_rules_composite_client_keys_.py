"""database rules: composite client keys, enum checks, session end after start; trigram client search

Revision ID: 91b2c9731a15
Revises: cbb7db63d6b2
Create Date: 2026-11-25 19:32:11.744355

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "91b2c9731a15"
down_revision = "cbb7db63d6b2"
branch_labels = None
depends_on = None

CHECKS = {
    "appointments": {
        "ck_appointments_status": "status IN ('scheduled', 'cancelled')",
        "ck_appointments_ends_after_start": "ends_at > starts_at",
    },
    "invite_deliveries": {
        "ck_invite_deliveries_role": "role IN ('client', 'therapist')",
        "ck_invite_deliveries_method": "method IN ('REQUEST', 'CANCEL')",
        "ck_invite_deliveries_status": "status IN ('sent', 'failed', 'outbox')",
    },
    "room_participants": {
        "ck_room_participants_role": "role IN ('therapist', 'client', 'visitor')",
        "ck_room_participants_status": "status IN ('waiting', 'in_room', 'declined', 'left', 'ended')",
    },
}
# Composite keys: a session or room visit names a client of its own therapist.
CLIENT_KEYS = {
    "appointments": "fk_appointments_client_id_clients",
    "room_participants": "fk_room_participants_client_id_clients",
}

SEARCH_POSTGRESQL = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    # One index over name and email together: one index scan answers "in the name or the email".
    "CREATE INDEX ix_clients_search_trgm ON clients USING gin ((name || ' ' || coalesce(email, '')) gin_trgm_ops) "
    "WITH (fastupdate = off)",  # straight into the index, not a pending list only VACUUM merges
]
SEARCH_SQLITE = [
    "CREATE VIRTUAL TABLE clients_search USING fts5(name, email, content='clients', content_rowid='id', "
    "tokenize='trigram')",
    "CREATE TRIGGER clients_search_insert AFTER INSERT ON clients BEGIN "
    "INSERT INTO clients_search(rowid, name, email) VALUES (new.id, new.name, new.email); END",
    "CREATE TRIGGER clients_search_delete AFTER DELETE ON clients BEGIN "
    "INSERT INTO clients_search(clients_search, rowid, name, email) VALUES ('delete', old.id, old.name, old.email); END",
    "CREATE TRIGGER clients_search_update AFTER UPDATE OF name, email ON clients BEGIN "
    "INSERT INTO clients_search(clients_search, rowid, name, email) VALUES ('delete', old.id, old.name, old.email); "
    "INSERT INTO clients_search(rowid, name, email) VALUES (new.id, new.name, new.email); END",
    "INSERT INTO clients_search(clients_search) VALUES ('rebuild')",  # index the clients already there
]


def upgrade():
    # First what the composite keys point at; SQLite rebuilds each table (batch mode), PostgreSQL alters it.
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_clients_id_therapist_id", ["id", "therapist_id"])

    for table in ("appointments", "invite_deliveries", "room_participants"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            if table in CLIENT_KEYS:
                batch_op.drop_constraint(CLIENT_KEYS[table], type_="foreignkey")
                batch_op.create_foreign_key(
                    CLIENT_KEYS[table], "clients", ["client_id", "therapist_id"], ["id", "therapist_id"]
                )
            for name, condition in CHECKS[table].items():
                batch_op.create_check_constraint(op.f(name), condition)

    # After the rebuild of `clients` above, which would drop triggers made before it.
    dialect = op.get_bind().dialect.name
    for statement in SEARCH_POSTGRESQL if dialect == "postgresql" else SEARCH_SQLITE if dialect == "sqlite" else []:
        op.execute(statement)


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP INDEX ix_clients_search_trgm")
    elif dialect == "sqlite":
        for trigger in ("clients_search_update", "clients_search_delete", "clients_search_insert"):
            op.execute(f"DROP TRIGGER {trigger}")
        op.execute("DROP TABLE clients_search")

    for table in ("room_participants", "invite_deliveries", "appointments"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name in CHECKS[table]:
                batch_op.drop_constraint(op.f(name), type_="check")
            if table in CLIENT_KEYS:
                batch_op.drop_constraint(CLIENT_KEYS[table], type_="foreignkey")
                batch_op.create_foreign_key(CLIENT_KEYS[table], "clients", ["client_id"], ["id"])

    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_constraint("uq_clients_id_therapist_id", type_="unique")
