"""LTI Assignment and Grade Services 2.0: line items, results and scores, every page.

Requests go through `CachedServiceConnector` (the shared token cache, our HTTP session with
its User-Agent and timeout, a retry on a revoked token). pylti1p3's
AssignmentsGradesService is not used: it reads only the first page of results and has no
line-item filters. Callers hold no database transaction while these functions run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from ..keys import SigningKey
from .service_tokens import CachedServiceConnector, ServiceTokenCache
from .tool_config import PlatformRegistration

SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_RESULT = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"

LINEITEM_CONTAINER = "application/vnd.ims.lis.v2.lineitemcontainer+json"
LINEITEM = "application/vnd.ims.lis.v2.lineitem+json"
RESULT_CONTAINER = "application/vnd.ims.lis.v2.resultcontainer+json"
SCORE = "application/vnd.ims.lis.v1.score+json"

MAX_PAGES = 1000  # a platform that links pages in a circle cannot keep us forever


class AgsError(Exception):
    """The platform answered something that is not AGS."""


@dataclass(frozen=True)
class LineItem:
    id: str
    label: str
    score_maximum: float
    resource_id: str | None = None
    tag: str | None = None
    resource_link_id: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> LineItem:
        if not isinstance(data, Mapping) or not isinstance(data.get("id"), str):
            raise AgsError("a line item without an id")
        return cls(
            id=data["id"],
            label=str(data.get("label") or ""),
            score_maximum=_number(data.get("scoreMaximum")) or 0.0,
            resource_id=_str_or_none(data.get("resourceId")),
            tag=_str_or_none(data.get("tag")),
            resource_link_id=_str_or_none(data.get("resourceLinkId")),
        )


@dataclass(frozen=True)
class Result:
    """One learner's result on a line item (AGS §3.3): `user_id` is the LTI `sub`."""

    user_id: str
    result_score: float | None
    result_maximum: float | None


@dataclass(frozen=True)
class Score:
    """What the tool reports for a learner (AGS §3.4)."""

    user_id: str
    timestamp: datetime
    score_given: float | None = None
    score_maximum: float | None = None
    activity_progress: str = "Completed"
    grading_progress: str = "FullyGraded"
    comment: str | None = None

    def to_json(self) -> dict[str, Any]:
        if self.timestamp.tzinfo is None:
            raise ValueError("a score timestamp must be timezone-aware")
        body: dict[str, Any] = {
            "userId": self.user_id,
            "timestamp": self.timestamp.isoformat(timespec="milliseconds"),
            "activityProgress": self.activity_progress,
            "gradingProgress": self.grading_progress,
        }
        if self.score_given is not None:
            if self.score_maximum is None or self.score_maximum <= 0:
                raise ValueError("scoreGiven needs a positive scoreMaximum")
            body["scoreGiven"] = self.score_given
            body["scoreMaximum"] = self.score_maximum
        if self.comment:
            body["comment"] = self.comment
        return body


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def with_path_suffix(url: str, suffix: str, query: Mapping[str, str] | None = None) -> str:
    """`{lineitem}/results` with the line item's own query string kept (AGS §3.2.7)."""
    parts = urlsplit(url)
    extra = urlencode(dict(query or {}))
    joined = "&".join(q for q in (parts.query, extra) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + suffix, joined, ""))


def with_query(url: str, query: Mapping[str, str]) -> str:
    return with_path_suffix(url, "", query)


class AgsClient:
    def __init__(
        self,
        registration: PlatformRegistration,
        tokens: ServiceTokenCache,
        signing_key: SigningKey,
    ) -> None:
        self._connector = CachedServiceConnector(
            registration, tokens, signing_key.kid, signing_key.private_pem
        )

    def _pages(self, scopes: list[str], url: str, accept: str) -> Iterator[Any]:
        next_url: str | None = url
        for _ in range(MAX_PAGES):
            if not next_url:
                return
            response = self._connector.make_service_request(scopes, next_url, accept=accept)
            yield response["body"]
            next_url = response["next_page_url"]
        raise AgsError(f"more than {MAX_PAGES} pages at {url}")

    def line_items(
        self,
        lineitems_url: str,
        *,
        resource_id: str | None = None,
        tag: str | None = None,
        resource_link_id: str | None = None,
    ) -> list[LineItem]:
        """Every line item of the course (all pages), optionally filtered (AGS §3.2.5)."""
        filters = {
            name: value
            for name, value in (
                ("resource_id", resource_id),
                ("tag", tag),
                ("resource_link_id", resource_link_id),
            )
            if value
        }
        url = with_query(lineitems_url, filters) if filters else lineitems_url
        items: list[LineItem] = []
        for body in self._pages([SCOPE_LINEITEM], url, LINEITEM_CONTAINER):
            if not isinstance(body, list):
                raise AgsError("the line items container is not a JSON array")
            items.extend(LineItem.from_json(item) for item in body)
        # Filters are a SHOULD for platforms: apply them here too.
        return [
            item
            for item in items
            if (resource_id is None or item.resource_id == resource_id)
            and (tag is None or item.tag == tag)
            and (resource_link_id is None or item.resource_link_id == resource_link_id)
        ]

    def create_line_item(
        self,
        lineitems_url: str,
        *,
        label: str,
        score_maximum: float,
        resource_id: str | None = None,
        tag: str | None = None,
    ) -> LineItem:
        body: dict[str, Any] = {"label": label, "scoreMaximum": score_maximum}
        if resource_id:
            body["resourceId"] = resource_id
        if tag:
            body["tag"] = tag
        response = self._connector.make_service_request(
            [SCOPE_LINEITEM],
            lineitems_url,
            is_post=True,
            data=json.dumps(body),
            content_type=LINEITEM,
            accept=LINEITEM,
        )
        return LineItem.from_json(response["body"])

    def line_item(self, lineitem_url: str) -> LineItem:
        response = self._connector.make_service_request(
            [SCOPE_LINEITEM], lineitem_url, accept=LINEITEM
        )
        return LineItem.from_json(response["body"])

    def results(
        self, lineitem_url: str, *, user_id: str | None = None, limit: int | None = None
    ) -> Iterator[Result]:
        """Every result of the line item (or one learner's), page by page."""
        query = {"user_id": user_id} if user_id else {}
        if limit:
            query["limit"] = str(limit)
        url = with_path_suffix(lineitem_url, "/results", query)
        for body in self._pages([SCOPE_RESULT], url, RESULT_CONTAINER):
            if not isinstance(body, list):
                raise AgsError("the result container is not a JSON array")
            for item in body:
                if not isinstance(item, Mapping) or not isinstance(item.get("userId"), str):
                    continue
                yield Result(
                    user_id=item["userId"],
                    result_score=_number(item.get("resultScore")),
                    result_maximum=_number(item.get("resultMaximum")),
                )

    def post_score(self, lineitem_url: str, score: Score) -> None:
        self._connector.make_service_request(
            [SCOPE_SCORE],
            with_path_suffix(lineitem_url, "/scores"),
            is_post=True,
            data=json.dumps(score.to_json()),
            content_type=SCORE,
        )
