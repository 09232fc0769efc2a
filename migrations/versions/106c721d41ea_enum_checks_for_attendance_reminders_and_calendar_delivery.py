"""enum checks for attendance, reminders and the therapist's calendar delivery

Revision ID: 106c721d41ea
Revises: b1feb8c906c2
Create Date: 2026-12-04 18:20:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "106c721d41ea"
down_revision = "b1feb8c906c2"
branch_labels = None
depends_on = None

# A frozen copy of the models' enums at this revision, as migrations should hold.
CHECKS = {
    "appointments": {
        "ck_appointments_attendance": "attendance IN ('attended', 'no_show', 'late_cancellation')",
    },
    "reminders": {
        "ck_reminders_kind": "kind IN ('24h', '1h')",
        "ck_reminders_status": "status IN ('sending', 'sent', 'outbox', 'retry', 'failed', 'dropped')",
    },
    "therapists": {
        "ck_therapists_calendar_delivery": "calendar_delivery IN ('email', 'feed')",
    },
}


def upgrade():
    # SQLite rebuilds each table (batch mode); none of these three carries triggers that a rebuild would drop.
    for table, checks in CHECKS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, condition in checks.items():
                batch_op.create_check_constraint(op.f(name), condition)


def downgrade():
    for table, checks in reversed(CHECKS.items()):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name in checks:
                batch_op.drop_constraint(op.f(name), type_="check")
