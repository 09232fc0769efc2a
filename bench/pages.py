"""Today and the week, small practice against large, measured in-process (Flask test client, SQLite).

    .venv/bin/python bench/pages.py                  # medians, small and large measured in turns
    .venv/bin/python bench/pages.py --profile Week   # cProfile of the large practice's week
    .venv/bin/python bench/pages.py --gunicorn       # as make bench measures: gunicorn, 2 workers, over HTTP

The practices are bench/run.py's (100 clients with 1,000 sessions; 10,000 with 100,000), seeded by its
build_database into a cache directory and reused the same day (the seed places sessions around today).
Each figure is the median of every request of every round; small and large take turns round by round, so
that load from other work on a shared machine weighs on both alike. CPU is this process's time
(time.process_time), the figure least moved by other work; wall is time.perf_counter.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import re
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import LARGE, PASSWORD, ROOT, SMALL, Browser, Server, build_database, median_ms  # noqa: E402 (sets SECRET_KEY)

sys.path.insert(0, str(ROOT))
PRACTICES = {"small": SMALL, "large": LARGE}


def pages() -> dict[str, str]:
    return {
        "Today": "/sessions/today",
        "Week": f"/sessions/week?date={date.today().isoformat()}",
    }


def database(label: str, cache: Path, fresh: bool) -> Path:
    clients, sessions = PRACTICES[label]
    path = cache / f"{label}-{date.today().isoformat()}.db"
    if fresh or not path.exists():
        for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            stale.unlink(missing_ok=True)  # SQLite runs in WAL: an old log must not meet a new file
        started = time.monotonic()
        build_database(f"sqlite:///{path}", clients, sessions)
        print(f"seeded {label} ({clients} clients, {sessions} sessions) in {time.monotonic() - started:.1f} s")
    return path


def browser(path: Path):
    """A logged-in test client on the practice at `path`."""
    from app import create_app

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}",
            "RATELIMIT_STORAGE_URI": "memory://",
            "REDIS_URL": None,
            "MAIL_SERVER": None,
        }
    )
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
    response = client.post(
        "/login", data={"email": "therapist1@example.com", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 303, response.status_code
    return client


def run(client, url: str, count: int) -> tuple[list[float], list[float], int]:
    """`count` requests after two to warm up: wall and CPU milliseconds of each, and the page's size."""
    for _ in range(2):
        size = len(client.get(url).data)
    walls, cpus = [], []
    for _ in range(count):
        wall, cpu = time.perf_counter(), time.process_time()
        response = client.get(url)
        cpus.append((time.process_time() - cpu) * 1000)
        walls.append((time.perf_counter() - wall) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return walls, cpus, size


def measure(clients: dict, samples: int, rounds: int) -> None:
    results: dict = {}
    for _ in range(rounds):
        for name, url in pages().items():
            for label, client in clients.items():
                walls, cpus, size = run(client, url, samples)
                entry = results.setdefault(name, {}).setdefault(label, {"wall": [], "cpu": [], "size": size})
                entry["wall"] += walls
                entry["cpu"] += cpus
    print(f"\n{samples} requests x {rounds} rounds per page and practice; medians in ms")
    print(f"{'page':<8} {'measure':<5} {'small':>8} {'large':>8} {'ratio':>7}")
    for name, by_label in results.items():
        for measure_ in ("cpu", "wall"):
            small = statistics.median(by_label["small"][measure_])
            large = statistics.median(by_label["large"][measure_])
            print(f"{name:<8} {measure_:<5} {small:8.1f} {large:8.1f} {large / small:7.2f}")
        print(
            f"{name:<8} {'HTML':<5} {by_label['small']['size'] / 1024:6.1f}KB {by_label['large']['size'] / 1024:6.1f}KB"
        )


def measure_gunicorn(paths: dict[str, Path], samples: int, rounds: int) -> None:
    """bench/run.py's own measure: the median of `samples` requests to gunicorn (2 sync workers), in turns."""
    servers, browsers = [], {}
    try:
        for label, path in paths.items():
            servers.append(Server("app:create_app()", {"DATABASE_URL": f"sqlite:///{path}"}))
            browsers[label] = Browser(servers[-1].port)
            browsers[label].log_in("therapist1@example.com")
        results: dict = {}
        for _ in range(rounds):
            for name, url in pages().items():
                for label, browser_ in browsers.items():
                    results.setdefault(name, {}).setdefault(label, []).append(median_ms(browser_, url, samples=samples))
    finally:
        for server in servers:
            server.stop()
    print(f"\ngunicorn: median of {samples} requests, the median of {rounds} rounds, in ms")
    print(f"{'page':<8} {'small':>8} {'large':>8} {'ratio':>7}")
    for name, by_label in results.items():
        small, large = statistics.median(by_label["small"]), statistics.median(by_label["large"])
        print(f"{name:<8} {small:8.1f} {large:8.1f} {large / small:7.2f}")


def profile(client, url: str, samples: int, top: int) -> None:
    run(client, url, 2)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(samples):
        client.get(url)
    profiler.disable()
    for key in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(key).print_stats(top)
        print(out.getvalue())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=30, help="requests per page, practice and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", choices=list(pages()), help="profile this page instead (on --practice)")
    parser.add_argument("--top", type=int, default=35, help="functions listed by --profile")
    parser.add_argument("--practice", choices=list(PRACTICES), default="large", help="the practice --profile measures")
    parser.add_argument("--gunicorn", action="store_true", help="measure through gunicorn instead (as make bench)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "hearth-pages-bench")
    parser.add_argument("--fresh", action="store_true", help="seed again even if today's databases exist")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    paths = {label: database(label, args.cache, args.fresh) for label in PRACTICES}
    if args.gunicorn:
        measure_gunicorn(paths, args.samples, args.rounds)
        return 0
    clients = {label: browser(path) for label, path in paths.items()}
    if args.profile:
        profile(clients[args.practice], pages()[args.profile], args.samples, args.top)
    else:
        measure(clients, args.samples, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
