"""Command-line tools: `flask --app app seed …`."""
import time

import click
from flask import Flask

import seed as seeding


def init_app(app: Flask) -> None:
    @app.cli.command("seed")
    @click.option("--therapists", default=10, show_default=True)
    @click.option("--clients", default=1000, show_default=True)
    @click.option("--sessions", default=10000, show_default=True)
    @click.option("--password", default="correct horse battery", show_default=True,
                  help="every seeded therapist's password (therapistN@example.com)")
    def seed(therapists: int, clients: int, sessions: int, password: str):
        """Fill the database with realistic therapists, clients and sessions, in bulk."""
        started = time.monotonic()
        seeding.seed(therapists, clients, sessions, password=password,
                     progress=lambda line: click.echo(f"[{time.monotonic() - started:6.1f}s] {line}"))
        click.echo(f"Done in {time.monotonic() - started:.1f} s.")
