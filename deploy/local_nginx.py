"""Serve deploy/nginx/hearth.conf itself on 127.0.0.1, in front of local instances: for tests and `make bench`.

Only the addresses and the certificate paths of the shipped file are replaced, so what is tested is
what is installed. The certificate is made for 127.0.0.1 with openssl; every path is in `workdir`.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SITE = Path(__file__).resolve().parent / "nginx" / "hearth.conf"
NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def site_config(upstreams: list[str], https_port: int, http_port: int, cert: Path, key: Path) -> str:
    """The shipped site with its listen addresses, upstream servers ("127.0.0.1:port", one or more)
    and certificate paths replaced."""
    text = SITE.read_text()
    servers = "".join(f"    server {upstream} max_fails=1 fail_timeout=10s;\n" for upstream in upstreams)
    replacements = {
        "    server 127.0.0.1:8001 max_fails=1 fail_timeout=10s;\n    server 127.0.0.1:8002 max_fails=1 fail_timeout=10s;\n": servers,
        "    listen [::]:80;\n": "",
        "    listen [::]:443 ssl http2;\n": "",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "/etc/letsencrypt/live/hearth.example.com/fullchain.pem": str(cert),
        "/etc/letsencrypt/live/hearth.example.com/privkey.pem": str(key),
    }
    for old, new in replacements.items():
        if old not in text:
            raise ValueError(f"deploy/nginx/hearth.conf no longer has {old!r}: update deploy/local_nginx.py")
        text = text.replace(old, new)
    return text


@dataclass
class LocalNginx:
    url: str  # https://127.0.0.1:<port>
    http_url: str  # the plain-http server that redirects
    cert: str  # the certificate to verify `url` with
    process: subprocess.Popen

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def ports() -> tuple[int, int]:
    """Ports for https and http; the instances' PUBLIC_URL needs the first before nginx starts."""
    return free_port(), free_port()


def start(workdir: Path, upstreams: list[str], https_port: int, http_port: int) -> LocalNginx:
    """Start nginx in the foreground (a child process) and wait until it answers over TLS."""
    if not NGINX:
        raise FileNotFoundError("nginx is not installed")
    workdir.mkdir(parents=True, exist_ok=True)
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    (workdir / "hearth.conf").write_text(site_config(upstreams, https_port, http_port, cert, key))
    # The frame Debian's /etc/nginx/nginx.conf gives a site, with every path inside workdir.
    (workdir / "nginx.conf").write_text(f"""
{"user root;" if os.geteuid() == 0 else ""}
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {workdir}/body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    include {workdir}/hearth.conf;
}}
""")
    process = subprocess.Popen(
        [
            NGINX,
            "-p",
            str(workdir),
            "-e",
            str(workdir / "nginx-error.log"),
            "-c",
            str(workdir / "nginx.conf"),
            "-g",
            "daemon off;",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    context = ssl.create_default_context(cafile=str(cert))
    deadline = time.monotonic() + 15
    while True:
        try:
            with (
                socket.create_connection(("127.0.0.1", https_port), timeout=2) as raw,
                context.wrap_socket(raw, server_hostname="127.0.0.1"),
            ):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(
                    "nginx did not start: " + process.stderr.read().decode() + (workdir / "nginx-error.log").read_text()
                ) from None
            time.sleep(0.1)
    return LocalNginx(f"https://127.0.0.1:{https_port}", f"http://127.0.0.1:{http_port}", str(cert), process)
