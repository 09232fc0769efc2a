"""The migrations build the schema the models describe, on SQLite and PostgreSQL."""

from flask_migrate import check, downgrade, upgrade
from sqlalchemy import inspect
from test_rules import CASES, check_rule, make_world

import clients
from extensions import db
from models import Therapist


def test_migrations_match_the_models_and_go_both_ways(app):
    db.drop_all()
    upgrade()
    assert {"therapists", "clients", "room_links", "alembic_version"} <= set(inspect(db.engine).get_table_names())
    check()  # raises when the models have changes that no migration holds
    world = make_world()  # the migrated database keeps the same rules as one made from the models
    for case in CASES:
        check_rule(world, case)
    assert [c.name for c in clients.search(db.session.get(Therapist, world["dana"]), "ane d").items] == ["Jane Doe"]
    db.session.remove()
    downgrade(revision="base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
