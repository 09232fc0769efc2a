"""name to use in emails; date and time formats (locale) for therapists and clients

Revision ID: b1feb8c906c2
Revises: 71887982f88b
Create Date: 2026-11-25 19:48:04.624503

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b1feb8c906c2'
down_revision = '71887982f88b'
branch_labels = None
depends_on = None


def upgrade():
    # Empty for every existing client: emails then greet them by the first word of their name.
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_name', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('locale', sa.String(length=20), nullable=True))
    # Empty: the formats follow the browser's Accept-Language until a therapist chooses.
    with op.batch_alter_table('therapists', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=20), nullable=True))


def downgrade():
    with op.batch_alter_table('therapists', schema=None) as batch_op:
        batch_op.drop_column('locale')
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.drop_column('locale')
        batch_op.drop_column('email_name')
