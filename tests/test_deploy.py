"""What deploy/ ships: nginx in front of two instances (served for real when nginx is installed), the
systemd units (checked by systemd-analyze), and the TRUSTED_PROXIES warning."""

import logging
import os
import re
import shutil
import subprocess
import time
from types import SimpleNamespace

import pytest
import requests
from sqlalchemy import func, select

import clients
import config
from app import create_app
from conftest import PASSWORD, ROOT, Instances
from dates import PLAIN_TUESDAY
from deploy import local_nginx
from extensions import db
from models import Appointment

NGINX_CONF = ROOT / "deploy/nginx/hearth.conf"
WARNING = "without X-Forwarded-For"


def size(value: str) -> int:
    """An nginx size ("1m", "512k", "1024") in bytes."""
    number, unit = re.fullmatch(r"(\d+)([kKmMgG]?)", value).groups()
    return int(number) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit.lower()]


def test_nginx_refuses_bodies_at_the_same_size_as_the_app(tmp_path):
    limit = re.search(r"client_max_body_size (\S+);", NGINX_CONF.read_text()).group(1)
    assert size(limit) == config.from_environment(str(tmp_path))["MAX_CONTENT_LENGTH"]


def test_trusted_proxies_warns_once_when_a_request_comes_past_the_proxy(tmp_path, caplog):
    app = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'h.db'}", "TRUSTED_PROXIES": 1}
    )
    browser = app.test_client()
    with caplog.at_level(logging.WARNING):
        browser.get("/login", headers={"X-Forwarded-For": "203.0.113.7"})
        assert WARNING not in caplog.text
        browser.get("/login")
        browser.get("/login")
    assert caplog.text.count(WARNING) == 1


def test_without_trusted_proxies_nothing_is_said_of_the_header(tmp_path, caplog):
    app = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'h.db'}", "TRUSTED_PROXIES": 0}
    )
    with caplog.at_level(logging.WARNING):
        app.test_client().get("/login")
    assert WARNING not in caplog.text


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_the_systemd_units_are_valid(tmp_path):
    """Installed as the units' comments say, with /srv/hearth being this checkout."""
    env = tmp_path / "hearth.env"
    env.write_text((ROOT / "deploy/hearth.env.example").read_text())
    for unit in (ROOT / "deploy/systemd").glob("*.service"):
        text = unit.read_text().replace("/srv/hearth", str(ROOT)).replace("/etc/hearth/hearth.env", str(env))
        name = unit.name.replace("@.", "@8001.")  # a template is checked as one of its instances
        (tmp_path / name).write_text(re.sub(r"^(User|Group)=hearth$", r"\1=root", text, flags=re.MULTILINE))
    units = sorted(str(path) for path in tmp_path.glob("*.service"))
    assert len(units) == 3
    result = subprocess.run(
        ["systemd-analyze", "verify", *units],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, "SYSTEMD_UNIT_PATH": f"{tmp_path}:"},
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


# nginx in front of two instances, on 127.0.0.1 with a certificate made for the test.


@pytest.fixture
def app(shared_app):
    return shared_app


@pytest.fixture
def behind_nginx(shared_app, tmp_path):
    """Two instances with TRUSTED_PROXIES=1 behind nginx: its https and http URLs, the instances, the certificate."""
    if not local_nginx.NGINX:
        pytest.skip("nginx is not installed (Debian: apt-get install nginx; `make test` does it)")
    https_port, http_port = local_nginx.ports()
    instances = Instances(
        shared_app, tmp_path, env={"TRUSTED_PROXIES": "1", "PUBLIC_URL": f"https://127.0.0.1:{https_port}"}
    )
    try:
        upstreams = [url.removeprefix("http://") for url in instances.start(2)]
        nginx = local_nginx.start(tmp_path / "nginx", upstreams, https_port, http_port)
        yield SimpleNamespace(url=nginx.url, http_url=nginx.http_url, instances=instances, cert=nginx.cert)
        nginx.stop()
    finally:
        instances.stop()


def test_through_nginx_a_therapist_logs_in_books_and_gets_gzipped_pages(behind_nginx, therapist):
    url, instances, cert = behind_nginx.url, behind_nginx.instances, behind_nginx.cert
    jane = clients.add(therapist, name="Jane Doe", email="jane@example.com")
    browser = requests.Session()
    browser.verify = cert
    browser.trust_env = False  # else REQUESTS_CA_BUNDLE from the environment replaces `verify`

    page = browser.get(url + "/login")
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page.text).group(1)
    # Under https (X-Forwarded-Proto) CSRF also wants a Referer from the same host (Host with its port).
    login = {"email": "dana@example.com", "password": PASSWORD, "csrf_token": token}
    assert browser.post(url + "/login", data=login, allow_redirects=False).status_code == 400
    response = browser.post(url + "/login", data=login, headers={"Referer": url + "/login"}, allow_redirects=False)
    assert response.status_code == 303
    assert "__Host-session" in browser.cookies  # Secure, prefixed: PUBLIC_URL is https

    form = browser.get(url + "/sessions/book")
    assert form.headers["Content-Encoding"] == "gzip"
    token = re.search(r'"X-CSRFToken": "([^"]+)"', form.text).group(1)
    booked = browser.post(
        url + "/sessions/book",
        headers={"HX-Request": "true", "Referer": url + "/sessions/book"},
        data={
            "client": str(jane.id),
            "date": PLAIN_TUESDAY.isoformat(),
            "start_time": "14:00",
            "length": "50",
            "booking_key": "key-1",
            "csrf_token": token,
        },
    )
    assert booked.status_code == 200
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Appointment)) == 1

    script = browser.get(url + "/vendor/htmx/htmx.min.js")
    assert script.headers["Content-Encoding"] == "gzip"
    assert browser.get(url + "/static/hearth.css").headers["Content-Encoding"] == "gzip"

    too_big = browser.post(url + "/login", data={"x": "a" * (1024 * 1024 + 1)}, headers={"Referer": url + "/login"})
    assert too_big.status_code == 413

    # Everything came through nginx with X-Forwarded-For; one request straight to an instance is warned of.
    assert not any(WARNING in log.read_text() for log in instances.logs)
    for _ in range(3):
        requests.get(instances.urls[0] + "/login")
    deadline = time.monotonic() + 5
    while WARNING not in instances.logs[0].read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert instances.logs[0].read_text().count(WARNING) in (1, 2)  # once per worker process that saw one


def test_nginx_sends_everything_to_the_other_instance_when_one_dies(behind_nginx):
    behind_nginx.instances.kill(0)
    statuses = [requests.get(behind_nginx.url + "/login", verify=behind_nginx.cert).status_code for _ in range(6)]
    assert statuses == [200] * 6


def test_nginx_sends_plain_http_to_https(behind_nginx):
    response = requests.get(behind_nginx.http_url + "/login?next=%2Fclients%2F", allow_redirects=False)
    assert response.status_code == 301
    assert response.headers["Location"] == "https://127.0.0.1/login?next=%2Fclients%2F"
