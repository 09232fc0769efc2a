"""The yardstick for throughput: a one-line Flask view, served by the same gunicorn set-up as Hearth."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    return "ok"
