"""OData v2 details of the SuccessFactors platform API: literals, dates, keys, answers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

DATE_PATTERN = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
KEY_PART = re.compile(r"(?:^|,)(?:[A-Za-z0-9_]+/)?([A-Za-z0-9_]+)=([^,]*)")


class MalformedAnswer(ValueError):
    """An OData answer that is not what the protocol promises."""


def literal(value: str) -> str:
    """An OData v2 string literal: single-quoted, quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def to_date(day: date) -> str:
    """``/Date(ms)/`` for midnight UTC of ``day`` (OData v2 ``Edm.DateTime``)."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return f"/Date({int(midnight.timestamp() * 1000)})/"


def from_date(value: Any) -> date | None:
    if value in (None, ""):
        return None
    match = DATE_PATTERN.match(str(value))
    if not match:
        raise MalformedAnswer(f"{value!r} is not an OData /Date(ms)/ value")
    return datetime.fromtimestamp(int(match.group(1)) / 1000, tz=UTC).date()


def entry_key(entity: str, element_id: str, user_id: str) -> str:
    """The key predicate of one background entry."""
    return f"{entity}(backgroundElementId={int(element_id)}L,userId={literal(user_id)})"


def results(payload: Any) -> list[Mapping[str, Any]]:
    """``d.results`` of a JSON collection answer."""
    try:
        found = payload["d"]["results"]
    except (KeyError, TypeError):
        raise MalformedAnswer("the answer has no d.results") from None
    if not isinstance(found, list) or not all(isinstance(item, Mapping) for item in found):
        raise MalformedAnswer("d.results is not a list of entries")
    return found


@dataclass(frozen=True, slots=True)
class UpsertStatus:
    ok: bool
    key: dict[str, str]
    message: str
    http_code: int | None
    edit_status: str | None


def upsert_status(payload: Any) -> UpsertStatus:
    """The first (only) record status of an ``/upsert`` answer."""
    try:
        first = payload["d"][0]
    except (KeyError, IndexError, TypeError):
        raise MalformedAnswer("the upsert answer has no d[0] status") from None
    if not isinstance(first, Mapping) or "status" not in first:
        raise MalformedAnswer("the upsert status carries no status field")
    key = {
        name: value.strip("'").removesuffix("L")
        for name, value in KEY_PART.findall(str(first.get("key") or ""))
    }
    code = first.get("httpCode")
    return UpsertStatus(
        ok=first["status"] == "OK",
        key=key,
        message=str(first.get("message") or ""),
        http_code=code if isinstance(code, int) else None,
        edit_status=first.get("editStatus"),
    )
