"""Command-line tools: `flask --app app seed …`, `flask --app app reset-password EMAIL`."""

import time

import click
from flask import Flask

import accounts
import seed as seeding


def init_app(app: Flask) -> None:
    @app.cli.command("seed")
    @click.option("--therapists", default=10, show_default=True)
    @click.option("--clients", default=1000, show_default=True)
    @click.option("--sessions", default=10000, show_default=True)
    @click.option(
        "--password",
        default="correct horse battery",
        show_default=True,
        help="every seeded therapist's password (therapistN@example.com)",
    )
    def seed(therapists: int, clients: int, sessions: int, password: str):
        """Fill the database with realistic therapists, clients and sessions, in bulk."""
        started = time.monotonic()
        seeding.seed(
            therapists,
            clients,
            sessions,
            password=password,
            progress=lambda line: click.echo(f"[{time.monotonic() - started:6.1f}s] {line}"),
        )
        click.echo(f"Done in {time.monotonic() - started:.1f} s.")

    @app.cli.command("reset-password")
    @click.argument("email")
    def reset_password(email: str):
        """Print a one-hour, single-use password reset link for this account (for servers without email)."""
        started = accounts.start_reset(email)
        if started is None:
            raise click.ClickException(f"No account uses the email {email}.")
        therapist, token = started
        click.echo(f"Reset link for {therapist.name} <{therapist.email}>, valid once for one hour:")
        click.echo(accounts.reset_url(token))
