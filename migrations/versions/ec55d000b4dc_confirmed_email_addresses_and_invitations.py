"""Confirmed email addresses and invitations

Accounts that exist already start unconfirmed on purpose: with mail delivery on, their invites wait in
the Outbox until they open the link the banner offers, since no address had ever been checked.

Revision ID: ec55d000b4dc
Revises: 71887982f88b
Create Date: 2026-11-25 19:41:40.688038

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "ec55d000b4dc"
down_revision = "71887982f88b"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "email_confirmations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("therapist_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["therapist_id"], ["therapists.id"], name=op.f("fk_email_confirmations_therapist_id_therapists")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_confirmations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_email_confirmations_token_hash")),
    )
    with op.batch_alter_table("email_confirmations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_email_confirmations_therapist_id"), ["therapist_id"], unique=False)

    op.create_table(
        "invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("therapist_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["therapist_id"], ["therapists.id"], name=op.f("fk_invitations_therapist_id_therapists")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitations_token_hash")),
    )
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invitations_therapist_id"), ["therapist_id"], unique=False)

    with op.batch_alter_table("therapists", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_confirmed_at", sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("therapists", schema=None) as batch_op:
        batch_op.drop_column("email_confirmed_at")

    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invitations_therapist_id"))

    op.drop_table("invitations")
    with op.batch_alter_table("email_confirmations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_email_confirmations_therapist_id"))

    op.drop_table("email_confirmations")
