"""What every in-LMS page of a blueprint needs from the tool session, as plain values.

Taken once per request (before any view runs) so views never lean on ORM objects of the
read session, which may be closed before an outbound call (the NRPS roster).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from flask import g, request, url_for

from .csrf import csrf_token
from .pages import Visitor
from .session import current_session, session_token

T = TypeVar("T")
NOTICES = {
    "created": "The achievement was created.",
    "updated": "The achievement was saved.",
    "archived": "The achievement was archived: it can no longer be awarded.",
    "awarded": "Awarded.",
    "revoked": "The award was revoked.",
    "suspended": "The award was suspended.",
    "reinstated": "The award was reinstated.",
    "bulk": "The bulk award is done.",
    "roster": "The roster award is done.",
}


@dataclass(frozen=True)
class Scope:
    token: str
    platform_id: int
    context_id: int | None
    user_id: int
    role: str
    visitor: Visitor


def load_scope() -> Scope:
    ts = current_session()
    scope = Scope(
        token=session_token(),
        platform_id=ts.deployment.platform_id,
        context_id=ts.context_id,
        user_id=ts.user_id,
        role=ts.role,
        visitor=Visitor.of(ts),
    )
    g.scope = scope
    return scope


def scope() -> Scope:
    found: Scope = g.scope
    return found


def u(endpoint: str, **values: Any) -> str:
    """A URL of this tool that keeps the session token."""
    return url_for(endpoint, s=scope().token, **values)


def template_globals() -> dict[str, object]:
    if "scope" not in g:  # an error page before the session was known (401)
        return {}
    current = scope()
    notice = NOTICES.get(request.args.get("notice", ""))
    counts = {
        name: request.args.get(name, type=int)
        for name in ("created", "unchanged", "skipped", "members", "new_users")
        if request.args.get(name, type=int) is not None
    }
    return {
        "s": current.token,
        "csrf": csrf_token(current.token),
        "v": current.visitor,
        "u": u,
        "notice": notice,
        "counts": counts,
    }


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    number: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def page_number() -> int:
    number = request.args.get("page", default=1, type=int) or 1
    return max(1, min(number, 1_000_000))


def safe_http_url(value: str | None) -> str | None:
    """`value` if it is an http(s) URL (links built from stored data never run script)."""
    if value and urlsplit(value).scheme in ("http", "https"):
        return value
    return None
