"""A client-side request budget per Degreed API client (sliding one-minute window).

Degreed allows 200 requests per minute per ``client_id`` and answers 429 beyond that. The
sync engine limits each connection's pace; this budget is the connector's own guard so that
one call sequence (token, look-ups, create) never goes over: before each request the
connector asks :meth:`RequestBudget.reserve`, and gets back how long to wait instead of a
slot when the window is full or when the server said no requests remain. The connector never
sleeps: it returns ``RETRY`` with that delay and the engine schedules the next attempt.

Budgets are shared by every connector instance of the process (the engine builds one per
delivery) and are thread-safe.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime

WINDOW_SECONDS = 60.0


class RequestBudget:
    """At most ``limit`` reservations in any ``window`` seconds, plus server back-pressure."""

    def __init__(
        self,
        limit: int,
        *,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._sent: deque[float] = deque()
        self._blocked_until = 0.0
        self._lock = threading.Lock()

    def reserve(self) -> float | None:
        """Take a slot (``None``) or return the seconds until one frees up."""
        with self._lock:
            now = self._clock()
            while self._sent and self._sent[0] <= now - self.window:
                self._sent.popleft()
            if now < self._blocked_until:
                return self._blocked_until - now
            if len(self._sent) >= self.limit:
                return self._sent[0] + self.window - now
            self._sent.append(now)
            return None

    def server_says(self, remaining: str | None, reset: str | None) -> None:
        """Honour ``X-Rate-Limit-Remaining: 0`` until ``X-Rate-Limit-Reset`` (ISO 8601)."""
        if remaining is None or remaining.strip() != "0":
            return
        wait = seconds_until(reset)
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + wait)

    def block_for(self, seconds: float) -> None:
        """After a 429: send nothing for ``seconds``."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)


def seconds_until(reset: str | None, *, now: datetime | None = None) -> float:
    """Seconds until an ISO 8601 UTC instant (a whole window when absent or unreadable)."""
    if not reset:
        return WINDOW_SECONDS
    text = reset.strip().replace("Z", "+00:00")
    if "." in text:  # .NET writes 7 fractional digits; Python reads at most 6
        head, _, tail = text.partition(".")
        digits = "".join(ch for ch in tail if ch.isdigit())
        zone = tail[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return WINDOW_SECONDS
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return min(WINDOW_SECONDS, max(0.0, (moment - current).total_seconds()))


_budgets: dict[tuple[str, str], RequestBudget] = {}
_budgets_lock = threading.Lock()


def budget_for(api_url: str, client_id: str, limit: int) -> RequestBudget:
    """The process-wide budget of one API client (recreated if its limit changed)."""
    key = (api_url, client_id)
    with _budgets_lock:
        budget = _budgets.get(key)
        if budget is None or budget.limit != limit:
            budget = _budgets[key] = RequestBudget(limit)
        return budget
