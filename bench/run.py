"""make bench: Hearth under gunicorn (2 workers) against seeded databases and a local SMTP sink, and two
instances on one database behind the shipped nginx configuration (deploy/) when nginx is installed.

Prints one table and writes bench/RESULTS.md and bench/latency.png. Every figure is a ratio or a
distribution measured in this run, since absolute times drift on shared machines. Only 127.0.0.1
is contacted, and every loop is bounded in count and in time.

When DATABASE_URL points at PostgreSQL, the pages are measured there as well, one practice at a
time; that database is emptied first (DROP SCHEMA public), so give it one made for the bench.
"""

from __future__ import annotations

import gzip
import http.client
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SECRET_KEY", "bench-only-secret")

PASSWORD = "correct horse battery"
SAMPLES = 60  # requests per page and database, after warming up
TIME_LIMIT = 60.0  # seconds any one measuring loop may run
SMALL, LARGE = (100, 1_000), (10_000, 100_000)  # (clients, sessions) in one practice


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_database(url: str, clients: int, sessions: int) -> None:
    """Create the schema by the migrations and seed one practice."""
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "app",
            "seed",
            "--therapists",
            "1",
            "--clients",
            str(clients),
            "--sessions",
            str(sessions),
        ],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


class Server:
    """gunicorn with two sync workers, as `make serve` runs it."""

    def __init__(self, app: str, env: dict | None = None, cwd: Path = ROOT):
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{self.port}", app],
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/")
                connection.getresponse().read()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn for {app} did not start")

    def worker_rss_kib(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        sizes = []
        for pid in children:
            status = Path(f"/proc/{pid}/status").read_text()
            sizes.append(int(re.search(r"VmRSS:\s+(\d+)", status).group(1)))
        return sizes

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


class Browser:
    """A tiny HTTP client with one cookie jar: enough to log in and click around."""

    def __init__(self, port: int):
        self.port = port
        self.cookies: dict[str, str] = {}
        self.token = ""

    def request(self, method: str, path: str, form: dict | None = None, htmx: bool = False):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()), "Accept-Encoding": "identity"}
        if htmx:
            headers["HX-Request"] = "true"
        body = None
        if form is not None:
            body = urllib.parse.urlencode({**form, "csrf_token": self.token})
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        for header in response.headers.get_all("Set-Cookie") or []:
            name, value = header.split(";", 1)[0].split("=", 1)
            self.cookies[name] = value
        connection.close()
        if match := re.search(rb'"X-CSRFToken": "([^"]+)"', data):
            self.token = match.group(1).decode()
        return response.status, data, elapsed

    def log_in(self, email: str) -> None:
        self.request("GET", "/login")
        status, _, _ = self.request("POST", "/login", {"email": email, "password": PASSWORD})
        assert status == 303, status
        self.request("GET", "/sessions/")


def median_ms(browser: Browser, path: str, htmx: bool = False, samples: int = SAMPLES) -> float:
    for _ in range(5):
        browser.request("GET", path, htmx=htmx)
    times, deadline = [], time.monotonic() + TIME_LIMIT
    while len(times) < samples and time.monotonic() < deadline:
        status, _, elapsed = browser.request("GET", path, htmx=htmx)
        assert status == 200, (path, status)
        times.append(elapsed)
    return statistics.median(times)


def ids(browser: Browser) -> tuple[int, int]:
    _, page, _ = browser.request("GET", "/clients/")
    client_id = int(re.search(rb'/clients/(\d+)"', page).group(1))
    _, page, _ = browser.request("GET", "/sessions/")
    session_id = int(re.search(rb'/sessions/(\d+)"', page).group(1))
    return client_id, session_id


def pages(client_id: int, session_id: int) -> dict[str, tuple[str, bool]]:
    day = (date.today() + timedelta(days=500)).isoformat()
    return {
        "Clients list": ("/clients/", False),
        "client search": ("/clients/?q=client+1", True),
        "client search, one match": ("/clients/?q=1-42%40", True),  # client1-42@example.com
        "Client details": (f"/clients/{client_id}", True),
        "Sessions": ("/sessions/", False),
        "Today": ("/sessions/today", False),
        "Week": (f"/sessions/week?date={date.today().isoformat()}", False),
        "session page": (f"/sessions/{session_id}", False),
        "booking preview": (f"/sessions/book/preview?client={client_id}&date={day}&start_time=10:00&length=50", True),
    }


def throughput(port: int, path: str, headers: dict, seconds: float = 8.0, threads: int = 4) -> float:
    """Requests per second from a few concurrent clients for a fixed, bounded time."""
    counts = [0] * threads
    stop = time.monotonic() + seconds

    def hammer(index: int):
        while time.monotonic() < stop:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", path, headers=headers)
            connection.getresponse().read()
            connection.close()
            counts[index] += 1

    workers = [threading.Thread(target=hammer, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=seconds + 30)
    return sum(counts) / seconds


def keepalive_throughput(connect, path: str, headers: dict, seconds: float = 8.0, threads: int = 4) -> float:
    """Requests per second from a few clients that each keep one connection (as browsers do with a proxy).

    `connect(index)` gives thread `index` its connection; http.client reopens it when the server closed it.
    """
    counts = [0] * threads
    stop = time.monotonic() + seconds

    def hammer(index: int):
        connection = connect(index)
        while time.monotonic() < stop:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            assert response.status == 200, (path, response.status)
            counts[index] += 1
        connection.close()

    workers = [threading.Thread(target=hammer, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=seconds + 30)
    return sum(counts) / seconds


def opener(ports: list[int], context=None):
    """Connections for keepalive_throughput: thread i to ports[i % len(ports)], over TLS when given a context."""
    if context:
        return lambda index: http.client.HTTPSConnection(
            "127.0.0.1", ports[index % len(ports)], timeout=30, context=context
        )
    return lambda index: http.client.HTTPConnection("127.0.0.1", ports[index % len(ports)], timeout=30)


def instances_throughput(database: Path, workdir: Path) -> dict:
    """Client details through one instance and through two on the same database and SECRET_KEY: behind
    deploy/nginx/hearth.conf (one upstream, then two) when nginx is installed, else straight to them."""
    import ssl

    from deploy import local_nginx

    proxied = local_nginx.NGINX is not None
    one_ports, two_ports = (local_nginx.ports(), local_nginx.ports()) if proxied else (None, None)
    public_url = f"https://127.0.0.1:{two_ports[0]}" if proxied else "http://127.0.0.1:5000"
    env = {"DATABASE_URL": f"sqlite:///{database}", "PUBLIC_URL": public_url, "TRUSTED_PROXIES": str(int(proxied))}
    servers, proxies = [Server("app:create_app()", env), Server("app:create_app()", env)], []
    try:
        if proxied:
            upstreams = [f"127.0.0.1:{server.port}" for server in servers]
            proxies = [
                local_nginx.start(workdir / "nginx-one", upstreams[:1], *one_ports),
                local_nginx.start(workdir / "nginx-two", upstreams, *two_ports),
            ]
            context = ssl.create_default_context(cafile=proxies[1].cert)
            context_one = ssl.create_default_context(cafile=proxies[0].cert)
            headers = log_in_through(proxies[1].url, context)
            client_id = client_id_through(proxies[1].url, context, headers)
            one_connection, two_connection = opener([one_ports[0]], context_one), opener([two_ports[0]], context)
        else:
            browser = Browser(servers[0].port)
            browser.log_in("therapist1@example.com")
            client_id, _ = ids(browser)
            headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in browser.cookies.items()), "HX-Request": "true"}
            one_connection, two_connection = opener([servers[0].port]), opener([server.port for server in servers])
        # Short turns, one after the other, so that load from elsewhere on the machine weighs on both alike.
        one = two = 0.0
        for _ in range(4):
            one += keepalive_throughput(one_connection, f"/clients/{client_id}", headers, seconds=2) / 4
            two += keepalive_throughput(two_connection, f"/clients/{client_id}", headers, seconds=2) / 4
    finally:
        for proxy in proxies:
            proxy.stop()
        for server in servers:
            server.stop()
    return {"one": one, "two": two, "proxied": proxied}


def log_in_through(url: str, context) -> dict:
    """Log therapist1 in over https (CSRF wants a same-host Referer there); the headers of its requests."""
    host = url.removeprefix("https://")
    cookies: dict[str, str] = {}

    def send(method: str, path: str, body: str | None = None) -> tuple[int, bytes]:
        connection = http.client.HTTPSConnection(host, timeout=30, context=context)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()), "Referer": url + "/login"}
        if body:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        for header in response.headers.get_all("Set-Cookie") or []:
            name, value = header.split(";", 1)[0].split("=", 1)
            cookies[name] = value
        connection.close()
        return response.status, data

    _, page = send("GET", "/login")
    token = re.search(rb'"X-CSRFToken": "([^"]+)"', page).group(1).decode()
    status, _ = send(
        "POST",
        "/login",
        urllib.parse.urlencode({"email": "therapist1@example.com", "password": PASSWORD, "csrf_token": token}),
    )
    assert status == 303, status
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()), "HX-Request": "true"}


def client_id_through(url: str, context, headers: dict) -> int:
    connection = http.client.HTTPSConnection(url.removeprefix("https://"), timeout=30, context=context)
    connection.request("GET", "/clients/", headers={"Cookie": headers["Cookie"]})
    page = connection.getresponse().read()
    connection.close()
    return int(re.search(rb'/clients/(\d+)"', page).group(1))


def gzip_size(data: bytes) -> int:
    return len(gzip.compress(data, 6))


def main() -> int:
    from aiosmtpd.controller import Controller

    class Sink:
        received = 0

        async def handle_DATA(self, server, session, envelope):
            Sink.received += 1
            return "250 OK"

    started = time.monotonic()
    results: dict = {"pages": {}}
    sink = Controller(Sink(), hostname="127.0.0.1", port=free_port())
    sink.start()
    workdir = Path(tempfile.mkdtemp(prefix="hearth-bench-"))
    servers = []
    try:
        databases = {}
        for label, (clients, sessions) in (("small", SMALL), ("large", LARGE)):
            path = workdir / f"{label}.db"
            t0 = time.monotonic()
            build_database(f"sqlite:///{path}", clients, sessions)
            results.setdefault("seed", {})[label] = time.monotonic() - t0
            print(
                f"seeded {label}: {clients} clients, {sessions} sessions in {time.monotonic() - t0:.1f} s", flush=True
            )
            databases[label] = path

        for label, path in databases.items():
            server = Server(
                "app:create_app()",
                {
                    "DATABASE_URL": f"sqlite:///{path}",
                    "MAIL_SERVER": "127.0.0.1",
                    "MAIL_PORT": str(sink.port),
                    "MAIL_DAILY_CAP": "100000",  # 100 bookings send 200 emails, the default day's cap
                    "PUBLIC_URL": "http://127.0.0.1:5000",
                },
            )
            servers.append(server)
            browser = Browser(server.port)
            browser.log_in("therapist1@example.com")
            client_id, session_id = ids(browser)
            for name, (path_, htmx) in pages(client_id, session_id).items():
                results["pages"].setdefault(name, {})[label] = median_ms(browser, path_, htmx)
            print(f"pages measured on {label}", flush=True)

            if label == "small":
                # Booking: a POST that sends two invites to the SMTP sink.
                times, before = [], Sink.received
                deadline = time.monotonic() + TIME_LIMIT
                for n in range(100):
                    if time.monotonic() > deadline:
                        break
                    day = (date.today() + timedelta(days=400 + n // 10)).isoformat()
                    form = {
                        "client": str(client_id),
                        "date": day,
                        "start_time": f"{8 + n % 10:02d}:00",
                        "length": "50",
                        "booking_key": f"bench-{n}",
                    }
                    status, body, elapsed = browser.request("POST", "/sessions/book", form, htmx=True)
                    assert status == 200 and b"Calendar invites sent" in body, (status, body[:300])
                    times.append(elapsed)
                times.sort()
                results["booking"] = {
                    "median": statistics.median(times),
                    "p95": times[int(len(times) * 0.95) - 1],
                    "count": len(times),
                    "mails": Sink.received - before,
                }
                print("booking measured", flush=True)
            else:
                # Weight of the first load of Sessions, and of each fragment (gzip, as a proxy would send it).
                _, page, _ = browser.request("GET", "/sessions/")
                assets = re.findall(rb'(?:href|src)="(/(?:static|vendor)/[^"]+)"', page)
                total = gzip_size(page) + sum(gzip_size(browser.request("GET", a.decode())[1]) for a in assets)
                results["weight"] = {"first_load": total, "assets": len(assets), "fragments": {}}
                for name, (path_, htmx) in pages(client_id, session_id).items():
                    if htmx:
                        results["weight"]["fragments"][name] = gzip_size(browser.request("GET", path_, htmx=True)[1])
                results["weight"]["fragments"]["Sessions (fragment)"] = gzip_size(
                    browser.request("GET", "/sessions/", htmx=True)[1]
                )

                # Throughput of the Client details fragment against a one-line Flask view.
                headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in browser.cookies.items()), "HX-Request": "true"}
                hearth_rps = throughput(server.port, f"/clients/{client_id}", headers)
                baseline = Server("baseline:app", cwd=ROOT / "bench")
                servers.append(baseline)
                baseline_rps = throughput(baseline.port, "/", {})
                results["throughput"] = {"hearth": hearth_rps, "baseline": baseline_rps}
                print("throughput measured", flush=True)

                # Memory: worker RSS after 1,000 requests and after 10,000.
                mix = [p for p, _ in pages(client_id, session_id).values()]

                def run_requests(count: int):
                    deadline = time.monotonic() + 240
                    done = 0

                    def one_thread(share: int):
                        nonlocal done
                        local = Browser(server.port)
                        local.cookies = dict(browser.cookies)
                        for n in range(share):
                            if time.monotonic() > deadline:
                                return
                            local.request("GET", mix[n % len(mix)], htmx=True)
                            done += 1

                    threads = [threading.Thread(target=one_thread, args=(count // 4,)) for _ in range(4)]
                    for t in threads:
                        t.start()
                    for t in threads:
                        t.join()
                    return done

                run_requests(1_000)
                after_1k = server.worker_rss_kib()
                run_requests(9_000)
                after_10k = server.worker_rss_kib()
                results["memory"] = {"after_1k": after_1k, "after_10k": after_10k}
                print("memory measured", flush=True)
        results["instances"] = instances_throughput(databases["large"], workdir)
        print("two instances measured", flush=True)
        if postgresql_url():
            measure_postgresql(results)
    finally:
        for server in servers:
            server.stop()
        sink.stop()
    results["seconds"] = time.monotonic() - started
    report(results)
    return 0


def postgresql_url() -> str | None:
    from config import database_url

    url = database_url(os.environ.get("DATABASE_URL", ""))
    return url if url.startswith("postgresql") else None


def measure_postgresql(results: dict) -> None:
    """The same pages against PostgreSQL (DATABASE_URL), one practice at a time: the database is emptied first."""
    from sqlalchemy import create_engine, text

    url = postgresql_url()
    for label, (clients, sessions) in (("small", SMALL), ("large", LARGE)):
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        t0 = time.monotonic()
        build_database(url, clients, sessions)
        results.setdefault("seed_postgresql", {})[label] = time.monotonic() - t0
        server = Server("app:create_app()", {"DATABASE_URL": url, "PUBLIC_URL": "http://127.0.0.1:5000"})
        try:
            browser = Browser(server.port)
            browser.log_in("therapist1@example.com")
            client_id, session_id = ids(browser)
            for name, (path_, htmx) in pages(client_id, session_id).items():
                results.setdefault("pages_postgresql", {}).setdefault(name, {})[label] = median_ms(browser, path_, htmx)
        finally:
            server.stop()
        print(f"pages measured on PostgreSQL, {label}", flush=True)


def report(results: dict) -> None:
    rows = []

    def row(what: str, figure: str, target: str, met: bool):
        rows.append((what, figure, target, "met" if met else "NOT met"))

    seconds = results["seed"]["large"]
    row("Seeding the large practice (migrate + seed, SQLite)", f"{seconds:.1f} s", "< 60 s", seconds < 60)
    booking = results["booking"]
    row(
        "Booking (POST + 2 invites by SMTP)",
        f"median {booking['median']:.1f} ms, p95 {booking['p95']:.1f} ms "
        f"({booking['count']} bookings, {booking['mails']} mails)",
        "median < 25 ms",
        booking["median"] < 25,
    )
    for database, key in (("", "pages"), (" (PostgreSQL)", "pages_postgresql")):
        for name, figures in results.get(key, {}).items():
            ratio = figures["large"] / figures["small"]
            row(
                f"{name}{database}: large / small",
                f"{figures['small']:.1f} ms → {figures['large']:.1f} ms (× {ratio:.2f})",
                "≤ 1.5",
                ratio <= 1.5,
            )
    rps = results["throughput"]
    ratio = rps["hearth"] / rps["baseline"]
    row(
        "Throughput: Client details / one-line view",
        f"{rps['hearth']:.0f} / {rps['baseline']:.0f} req/s (× {ratio:.2f})",
        "≥ 0.5",
        ratio >= 0.5,
    )
    instances = results["instances"]
    ratio = instances["two"] / instances["one"]
    row(
        "Client details: two instances / one" + (" (behind nginx)" if instances["proxied"] else " (no proxy)"),
        f"{instances['one']:.0f} → {instances['two']:.0f} req/s (× {ratio:.2f})",
        "≥ 0.9",
        ratio >= 0.9,
    )
    weight = results["weight"]
    row(
        "First load of Sessions, with CSS and JS (gzip)",
        f"{weight['first_load'] / 1024:.1f} KB ({weight['assets']} files)",
        "< 100 KB",
        weight["first_load"] < 100 * 1024,
    )
    for name, size in weight["fragments"].items():
        row(f"Fragment: {name} (gzip)", f"{size / 1024:.1f} KB", "< 10 KB", size < 10 * 1024)
    memory = results["memory"]
    growth = max(b / a - 1 for a, b in zip(memory["after_1k"], memory["after_10k"], strict=True))
    row(
        "Worker RSS, 1,000 → 10,000 requests",
        ", ".join(
            f"{a / 1024:.1f} → {b / 1024:.1f} MB" for a, b in zip(memory["after_1k"], memory["after_10k"], strict=True)
        )
        + f" (+{growth * 100:.1f}%)",
        "< +10%",
        growth < 0.10,
    )

    width = max(len(r[0]) for r in rows)
    print()
    for what, figure, target, verdict in rows:
        print(f"{what:<{width}}  {figure:<58} {target:<14} {verdict}")

    now = datetime.now(timezone.utc)
    lines = [
        "# Benchmark results",
        "",
        f"Latest `make bench`: {now:%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, "
        f"{'SQLite and PostgreSQL' if 'pages_postgresql' in results else 'SQLite'}, gunicorn with 2 sync workers, "
        f"{results['seconds']:.0f} s in all. Small practice: {SMALL[0]:,} clients, {SMALL[1]:,} sessions; large: "
        f"{LARGE[0]:,} clients, {LARGE[1]:,} sessions. Page figures are medians of {SAMPLES} requests. Sizes are "
        "gzip-compressed, as a reverse proxy with gzip sends them (Hearth itself does not compress). Two instances: "
        "both on the large database, behind deploy/nginx/hearth.conf over TLS (one upstream, then two) when nginx is "
        "installed, 4 clients with one connection each, on the same machine.",
        "",
        "| what | figure | target | |",
        "| --- | --- | --- | --- |",
        *[f"| {what} | {figure} | {target} | {verdict} |" for what, figure, target, verdict in rows],
        "",
        "![Median latency, small and large practice](latency.png)",
        "",
    ]
    (ROOT / "bench" / "RESULTS.md").write_text("\n".join(lines))
    plot(results)


def plot(results: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["pages"])
    small = [results["pages"][n]["small"] for n in names]
    large = [results["pages"][n]["large"] for n in names]
    positions = range(len(names))
    figure, axes = plt.subplots(figsize=(8, 3.6), dpi=100)
    axes.bar([p - 0.2 for p in positions], small, width=0.4, label=f"{SMALL[0]:,} clients / {SMALL[1]:,} sessions")
    axes.bar([p + 0.2 for p in positions], large, width=0.4, label=f"{LARGE[0]:,} clients / {LARGE[1]:,} sessions")
    axes.set_xticks(list(positions), names, rotation=20, ha="right")
    axes.set_ylabel("median latency (ms)")
    axes.set_title("Hearth pages and fragments as the practice grows")
    axes.legend()
    figure.tight_layout()
    figure.savefig(ROOT / "bench" / "latency.png")


if __name__ == "__main__":
    sys.exit(main())
