"""Counts kept in Flask-Limiter's storage (Redis in production), for limits a view checks itself
because it answers with its own message instead of the 429 page: resends and daily email caps."""

from limits import parse

from extensions import limiter


def take(limit: str, *key, cost: int = 1) -> bool:
    """Use `cost` of `limit` (e.g. "3 per hour") under `key`; False, using nothing, when that would go over."""
    item = parse(limit)
    names = [str(part) for part in key]
    if not limiter.limiter.test(item, *names, cost=cost):
        return False
    return limiter.limiter.hit(item, *names, cost=cost)
