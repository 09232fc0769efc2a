"""The migrations build the schema the models describe, on SQLite and PostgreSQL."""
from flask_migrate import check, downgrade, upgrade
from sqlalchemy import inspect

from extensions import db


def test_migrations_match_the_models_and_go_both_ways(app):
    db.drop_all()
    upgrade()
    assert {"therapists", "clients", "room_links", "alembic_version"} <= set(inspect(db.engine).get_table_names())
    check()  # raises when the models have changes that no migration holds
    downgrade(revision="base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
