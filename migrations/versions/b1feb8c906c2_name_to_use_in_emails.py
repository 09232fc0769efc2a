"""name to use in emails; date and time formats (locale) for therapists and clients

Revision ID: b1feb8c906c2
Revises: ec55d000b4dc
Create Date: 2026-11-25 19:48:04.624503

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "b1feb8c906c2"
down_revision = "ec55d000b4dc"
branch_labels = None
depends_on = None


def upgrade():
    # Plain ALTER TABLE ADD/DROP COLUMN on both databases (SQLite 3.35+), not batch mode: rebuilding clients
    # on SQLite would drop the search triggers that keep clients_search in step.
    # Empty for every existing client: emails then greet them by the first word of their name.
    op.add_column("clients", sa.Column("email_name", sa.String(length=100), nullable=True))
    op.add_column("clients", sa.Column("locale", sa.String(length=20), nullable=True))
    # Empty: the formats follow the browser's Accept-Language until a therapist chooses.
    op.add_column("therapists", sa.Column("locale", sa.String(length=20), nullable=True))


def downgrade():
    op.drop_column("therapists", "locale")
    op.drop_column("clients", "locale")
    op.drop_column("clients", "email_name")
