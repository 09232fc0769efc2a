"""no overlapping sessions on PostgreSQL (exclusion constraint)

Revision ID: e1a2b3c4d5e6
Revises: d4c7b1ed67da
Create Date: 2026-11-25 14:20:00

"""

from alembic import op

NO_OVERLAP = (
    "ALTER TABLE appointments ADD CONSTRAINT ex_appointments_no_overlap EXCLUDE USING gist "
    "(therapist_id WITH =, tsrange(starts_at, ends_at, '[)') WITH &&) WHERE (status = 'scheduled')"
)

revision = "e1a2b3c4d5e6"
down_revision = "d4c7b1ed67da"
branch_labels = None
depends_on = None


def upgrade():
    # SQLite has no exclusion constraints; there the booking transaction takes the write lock instead.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        op.execute(NO_OVERLAP)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE appointments DROP CONSTRAINT ex_appointments_no_overlap")
