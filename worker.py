"""The background worker's entry point: `huey_consumer worker.huey` (make run and make serve start it)."""

from app import create_app

app = create_app()
huey = app.extensions["huey"]
