"""`Idempotency-Key` on POSTs: the first response is stored per client and replayed on a
repeat of the same request; the same key with another request is refused (422), and a repeat
while the first is still running gets 409.

The key is reserved in its own committed row before the view runs, so two concurrent
requests with one key cannot both act. Server errors (5xx) free the key for a retry.
Records older than a day are purged as new ones arrive.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar, cast

from flask import Response, current_app, g, make_response, request
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from lti_tool.models import IdempotencyRecord, utcnow
from lti_tool.requestscope import services

from .auth import principal
from .base import KEY_PATTERN
from .errors import ApiProblem

F = TypeVar("F", bound=Callable[..., Any])
HEADER = "Idempotency-Key"
KEEP = timedelta(hours=24)
_REPLAYED_HEADERS = ("Content-Type", "ETag", "Location")
KEY_RE = re.compile(KEY_PATTERN)


def _request_hash() -> str:
    digest = hashlib.sha256()
    for part in (request.method, request.path, request.query_string.decode()):
        digest.update(part.encode() + b"\0")
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


@dataclass(frozen=True)
class Held:
    """The record already holding a key, as plain values."""

    request_hash: str
    status_code: int | None
    body: str | None
    headers: dict[str, str]


def _reserve(client_pk: int, key: str, request_hash: str) -> Held | None:
    """Reserve `key` (None) or return the record that already holds it."""
    database = services().database
    try:
        with database.session() as session:
            session.execute(
                delete(IdempotencyRecord).where(
                    IdempotencyRecord.api_client_id == client_pk,
                    IdempotencyRecord.created_at < utcnow() - KEEP,
                )
            )
            session.add(
                IdempotencyRecord(api_client_id=client_pk, key=key, request_hash=request_hash)
            )
        return None
    except IntegrityError:
        with database.read_session() as session:
            found = session.scalars(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.api_client_id == client_pk, IdempotencyRecord.key == key
                )
            ).one_or_none()
            if found is not None:
                return Held(
                    found.request_hash,
                    found.status_code,
                    found.response_body,
                    dict(found.response_headers),
                )
        return _reserve(client_pk, key, request_hash)  # purged in between: a new key


def _finish(client_pk: int, key: str, response: Response | None) -> None:
    with services().database.session() as session:
        record = session.scalars(
            select(IdempotencyRecord).where(
                IdempotencyRecord.api_client_id == client_pk, IdempotencyRecord.key == key
            )
        ).one()
        if response is None or response.status_code >= 500:
            session.delete(record)
            return
        record.status_code = response.status_code
        record.response_body = response.get_data(as_text=True)
        record.response_headers = {
            name: response.headers[name] for name in _REPLAYED_HEADERS if name in response.headers
        }


def idempotent(func: F) -> F:
    """Honour `Idempotency-Key` on this POST view (put it under `authorize`)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get(HEADER)
        if key is None:
            return func(*args, **kwargs)
        if not KEY_RE.match(key):
            raise ApiProblem(
                400, f"{HEADER} is 1 to 255 printable ASCII characters.", kind="bad-key"
            )
        client_pk = principal().client_pk
        request_hash = _request_hash()
        existing = _reserve(client_pk, key, request_hash)
        if existing is not None:
            if existing.request_hash != request_hash:
                raise ApiProblem(
                    422,
                    f"This {HEADER} was used for a different request; use a new key.",
                    kind="idempotency-key-reused",
                )
            if existing.status_code is None:
                raise ApiProblem(
                    409,
                    f"A request with this {HEADER} is still being processed; retry shortly.",
                    kind="idempotency-key-in-use",
                )
            replay = Response(existing.body, status=existing.status_code)
            replay.headers.update(existing.headers)
            replay.headers["Idempotent-Replayed"] = "true"
            return replay
        try:
            response = make_response(func(*args, **kwargs))
        except Exception as exc:  # answer as the error handlers would, and remember that
            request_session = g.get("db_session")
            if request_session is not None:  # give up the view's write lock (SQLite) first
                request_session.rollback()
            try:
                response = make_response(current_app.handle_user_exception(exc))
            except Exception:
                _finish(client_pk, key, None)
                raise
        _finish(client_pk, key, response)
        return response

    return cast(F, wrapper)
