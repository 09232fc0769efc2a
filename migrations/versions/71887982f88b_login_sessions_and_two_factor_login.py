"""login sessions and two-factor login

The cookies now name a login_sessions row instead of a per-therapist login_token, which goes.

Revision ID: 71887982f88b
Revises: 91b2c9731a15
Create Date: 2026-11-25 19:30:01.405621

"""

import secrets

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "71887982f88b"
down_revision = "91b2c9731a15"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "login_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("therapist_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("user_agent", sa.String(length=300), nullable=False),
        sa.Column("remember", sa.Boolean(), nullable=False),
        sa.Column("remember_until", sa.DateTime(), nullable=True),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("ended_reason", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["therapist_id"], ["therapists.id"], name=op.f("fk_login_sessions_therapist_id_therapists")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_sessions")),
        sa.UniqueConstraint("token", name=op.f("uq_login_sessions_token")),
    )
    with op.batch_alter_table("login_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_sessions_therapist_id"), ["therapist_id"], unique=False)

    op.create_table(
        "recovery_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("therapist_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["therapist_id"], ["therapists.id"], name=op.f("fk_recovery_codes_therapist_id_therapists")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_recovery_codes_code_hash")),
    )
    with op.batch_alter_table("recovery_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recovery_codes_therapist_id"), ["therapist_id"], unique=False)

    with op.batch_alter_table("therapists", schema=None) as batch_op:
        batch_op.add_column(sa.Column("totp_secret", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("totp_last_step", sa.Integer(), nullable=True))
        batch_op.drop_constraint(batch_op.f("uq_therapists_login_token"), type_="unique")
        batch_op.drop_column("login_token")


def downgrade():
    # login_token comes back with a fresh random value per therapist (every login then starts anew).
    with op.batch_alter_table("therapists", schema=None) as batch_op:
        batch_op.add_column(sa.Column("login_token", sa.VARCHAR(length=64), nullable=True))
    bind = op.get_bind()
    therapists = sa.table("therapists", sa.column("id", sa.Integer), sa.column("login_token", sa.String))
    for (therapist_id,) in bind.execute(sa.select(therapists.c.id)).all():
        bind.execute(
            therapists.update().where(therapists.c.id == therapist_id).values(login_token=secrets.token_urlsafe(32))
        )
    with op.batch_alter_table("therapists", schema=None) as batch_op:
        batch_op.alter_column("login_token", existing_type=sa.VARCHAR(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_therapists_login_token"), ["login_token"])
        batch_op.drop_column("totp_last_step")
        batch_op.drop_column("totp_secret")

    with op.batch_alter_table("recovery_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recovery_codes_therapist_id"))

    op.drop_table("recovery_codes")
    with op.batch_alter_table("login_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_sessions_therapist_id"))

    op.drop_table("login_sessions")
