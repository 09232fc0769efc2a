"""Session organizer and the therapist's calendar choice

Revision ID: cbb7db63d6b2
Revises: a9b700fbcd30
Create Date: 2026-11-25 19:40:03.287887

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "cbb7db63d6b2"
down_revision = "a9b700fbcd30"
branch_labels = None
depends_on = None


def upgrade():
    # Sessions booked before this stay NULL: they keep using the configured sender, as they did.
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("organizer", sa.String(length=254), nullable=True))

    with op.batch_alter_table("therapists", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("calendar_delivery", sa.String(length=16), server_default="email", nullable=False)
        )


def downgrade():
    with op.batch_alter_table("therapists", schema=None) as batch_op:
        batch_op.drop_column("calendar_delivery")

    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.drop_column("organizer")
