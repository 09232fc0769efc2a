"""Future dates with known clock changes, computed so the tests never fall into the past."""

from datetime import date, timedelta

from models import utcnow

YEAR = utcnow().year + 1


def sunday(year: int, month: int, nth: int) -> date:
    """The nth Sunday of a month; nth=-1 is the last."""
    if nth > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(6 - first.weekday()) % 7 + 7 * (nth - 1))
    last = date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - 6) % 7)


EU_SPRING = sunday(YEAR, 3, -1)  # Europe/Prague: 02:00 -> 03:00
US_SPRING = sunday(YEAR, 3, 2)  # America/New_York moves three weeks earlier
EU_AUTUMN = sunday(YEAR, 10, -1)  # Europe/Prague: 03:00 -> 02:00, so 02:00-02:59 happens twice
PLAIN_TUESDAY = date(YEAR, 6, 1) + timedelta(days=(1 - date(YEAR, 6, 1).weekday()) % 7)
