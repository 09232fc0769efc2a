"""Reminders, attendance, confirmations

Existing sessions count their time as set when they were booked.

Revision ID: a9b700fbcd30
Revises: cfc0596c36ce
Create Date: 2026-11-25 19:30:32.796540

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "a9b700fbcd30"
down_revision = "cfc0596c36ce"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("appointment_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("confirm_token_hash", sa.String(length=64), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["appointment_id"], ["appointments.id"], name=op.f("fk_reminders_appointment_id_appointments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminders")),
        sa.UniqueConstraint("appointment_id", "kind", "starts_at", name="uq_reminders_once"),
        sa.UniqueConstraint("confirm_token_hash", name=op.f("uq_reminders_confirm_token_hash")),
    )
    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reminders_appointment_id"), ["appointment_id"], unique=False)
        batch_op.create_index("ix_reminders_status_next", ["status", "next_attempt_at"], unique=False)

    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("time_set_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("confirmed_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("attendance", sa.String(length=20), nullable=True))
    op.execute("UPDATE appointments SET time_set_at = created_at")
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.alter_column("time_set_at", existing_type=sa.DateTime(), nullable=False)

    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reminders_off", sa.Boolean(), server_default=sa.false(), nullable=False))

    with op.batch_alter_table("therapists", schema=None) as batch_op:
        batch_op.add_column(sa.Column("remind_24h", sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column("remind_1h", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table("therapists", schema=None) as batch_op:
        batch_op.drop_column("remind_1h")
        batch_op.drop_column("remind_24h")

    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("reminders_off")

    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.drop_column("attendance")
        batch_op.drop_column("confirmed_at")
        batch_op.drop_column("time_set_at")

    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.drop_index("ix_reminders_status_next")
        batch_op.drop_index(batch_op.f("ix_reminders_appointment_id"))

    op.drop_table("reminders")
