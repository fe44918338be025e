"""The test platform's gradebook (AGS 2.0) and deep-linking return endpoint.

Real HTTP endpoints with the checks an LMS makes: bearer tokens with the right scope, the
AGS media types (406/415 otherwise), paging with `Link: rel="next"`, score validation; and
a deep-linking return that verifies the tool's response JWT against the tool's published
JWKS (signature, `iss`, `aud`, `exp`, a fresh `nonce`, `deployment_id`, message type,
version and the echoed `data`) before it creates the links and line items.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, Response, abort, jsonify, request
from jwt.algorithms import RSAAlgorithm
from markupsafe import escape

if TYPE_CHECKING:
    from .platform import TestPlatform

SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_LINEITEM_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
SCOPE_RESULT = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
AGS_SCOPES = [SCOPE_LINEITEM, SCOPE_RESULT, SCOPE_SCORE]

LINEITEM_CONTAINER = "application/vnd.ims.lis.v2.lineitemcontainer+json"
LINEITEM = "application/vnd.ims.lis.v2.lineitem+json"
RESULT_CONTAINER = "application/vnd.ims.lis.v2.resultcontainer+json"
SCORE = "application/vnd.ims.lis.v1.score+json"

ACTIVITY_PROGRESS = ("Initialized", "Started", "InProgress", "Submitted", "Completed")
GRADING_PROGRESS = ("FullyGraded", "Pending", "PendingManual", "Failed", "NotReady")
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
LTI = "https://purl.imsglobal.org/spec/lti/claim/"


@dataclass
class Gradebook:
    """The platform's gradebook state, open to tests."""

    page_size: int = 100
    down: bool = False  # every AGS endpoint answers 503 (the LMS is down)
    lineitems: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> line item
    results: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # key -> sub
    scores: list[dict[str, Any]] = field(default_factory=list)  # every score received
    links: list[dict[str, Any]] = field(default_factory=list)  # deep-linked resource links
    refused_links: list[str] = field(default_factory=list)  # why each refused response failed
    seen_nonces: set[str] = field(default_factory=set)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_lineitem(
        self,
        platform: TestPlatform,
        label: str,
        score_maximum: float = 100,
        *,
        resource_id: str | None = None,
        tag: str | None = None,
        resource_link_id: str | None = None,
    ) -> dict[str, Any]:
        with self._lock:
            key = str(len(self.lineitems) + 1)
            item: dict[str, Any] = {
                "id": f"{platform.lineitems_url()}/{key}",
                "label": label,
                "scoreMaximum": score_maximum,
            }
            for name, value in (
                ("resourceId", resource_id),
                ("tag", tag),
                ("resourceLinkId", resource_link_id),
            ):
                if value:
                    item[name] = value
            self.lineitems[key] = item
            self.results[key] = {}
            return item

    def set_result(
        self, lineitem: dict[str, Any], sub: str, score: float | None, maximum: float | None
    ) -> None:
        key = lineitem["id"].rsplit("/", 1)[1]
        result: dict[str, Any] = {"id": f"{lineitem['id']}/results/{sub}", "userId": sub}
        result["scoreOf"] = lineitem["id"]
        if score is not None:
            result["resultScore"] = score
        if maximum is not None:
            result["resultMaximum"] = maximum
        self.results[key][sub] = result

    def scores_for(self, sub: str) -> list[dict[str, Any]]:
        return [s for s in self.scores if s["userId"] == sub]


def _page(items: list[Any], page_size: int, base_url: str) -> Response:
    page = max(int(request.args.get("page", "1")), 1)
    limit = int(request.args.get("limit", str(page_size)))
    chunk = items[(page - 1) * limit : page * limit]
    response = jsonify(chunk)
    if page * limit < len(items):
        query = {k: v for k, v in request.args.items() if k != "page"}
        query["page"] = str(page + 1)
        response.headers["Link"] = f'<{base_url}?{urlencode(query)}>; rel="next"'
    return response


def _accepts(*media_types: str) -> None:
    accept = request.headers.get("Accept", "*/*")
    if not any(m in accept for m in (*media_types, "application/json", "*/*")):
        abort(406)


def _content_type(media_type: str) -> None:
    if request.mimetype != media_type:
        abort(415, f"expected Content-Type {media_type}")


def register_gradebook(app: Flask, platform: TestPlatform, tool_jwks: Callable[[], Any]) -> None:
    book = platform.gradebook

    @app.before_request
    def _log_and_down() -> None:
        if request.path.startswith("/ags/"):
            book.requests.append((request.method, request.path))
            if book.down:
                abort(503)

    def _lineitem(context_id: str, key: str) -> dict[str, Any]:
        if context_id != platform.context["id"] or key not in book.lineitems:
            abort(404)
        return book.lineitems[key]

    @app.get("/ags/<context_id>/lineitems")
    def lineitems(context_id: str) -> Response:
        platform.require_bearer_any(SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY)
        _accepts(LINEITEM_CONTAINER)
        if context_id != platform.context["id"]:
            abort(404)
        items = [
            item
            for item in book.lineitems.values()
            if all(
                item.get(name) == request.args[arg]
                for arg, name in (
                    ("resource_id", "resourceId"),
                    ("tag", "tag"),
                    ("resource_link_id", "resourceLinkId"),
                )
                if arg in request.args
            )
        ]
        response = _page(items, book.page_size, platform.lineitems_url())
        response.headers["Content-Type"] = LINEITEM_CONTAINER
        return response

    @app.post("/ags/<context_id>/lineitems")
    def create_lineitem(context_id: str) -> tuple[Response, int]:
        platform.require_bearer_any(SCOPE_LINEITEM)
        _content_type(LINEITEM)
        if context_id != platform.context["id"]:
            abort(404)
        body = request.get_json(force=True, silent=True)
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("label"), str)
            or not body["label"]
            or not isinstance(body.get("scoreMaximum"), int | float)
            or body["scoreMaximum"] <= 0
        ):
            abort(400, "a line item needs a label and a positive scoreMaximum")
        item = book.add_lineitem(
            platform,
            body["label"],
            body["scoreMaximum"],
            resource_id=body.get("resourceId"),
            tag=body.get("tag"),
        )
        response = jsonify(item)
        response.headers["Content-Type"] = LINEITEM
        return response, 201

    @app.get("/ags/<context_id>/lineitems/<key>")
    def lineitem(context_id: str, key: str) -> Response:
        platform.require_bearer_any(SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY)
        _accepts(LINEITEM)
        response = jsonify(_lineitem(context_id, key))
        response.headers["Content-Type"] = LINEITEM
        return response

    @app.get("/ags/<context_id>/lineitems/<key>/results")
    def results(context_id: str, key: str) -> Response:
        platform.require_bearer_any(SCOPE_RESULT)
        _accepts(RESULT_CONTAINER)
        item = _lineitem(context_id, key)
        rows = sorted(book.results[key].values(), key=lambda r: r["userId"])
        if "user_id" in request.args:
            rows = [r for r in rows if r["userId"] == request.args["user_id"]]
        response = _page(rows, book.page_size, item["id"] + "/results")
        response.headers["Content-Type"] = RESULT_CONTAINER
        return response

    @app.post("/ags/<context_id>/lineitems/<key>/scores")
    def scores(context_id: str, key: str) -> tuple[str, int]:
        platform.require_bearer_any(SCOPE_SCORE)
        _content_type(SCORE)
        item = _lineitem(context_id, key)
        body = request.get_json(force=True, silent=True)
        problem = _score_problem(body, platform)
        if problem:
            abort(400, problem)
        assert isinstance(body, dict)
        with book._lock:
            book.scores.append({**body, "lineitem": item["id"]})
            if "scoreGiven" in body:
                book.set_result(item, body["userId"], body["scoreGiven"], body["scoreMaximum"])
        return "", 204

    @app.post("/deep-link-return")
    def deep_link_return() -> tuple[str, int]:
        try:
            links = _verify_deep_link(platform, request.form.get("JWT", ""), tool_jwks)
        except (jwt.PyJWTError, ValueError, KeyError, StopIteration) as exc:
            book.refused_links.append(str(exc) or type(exc).__name__)
            return f"<p>Deep-linking response refused: {escape(str(exc))}</p>", 400
        return f"<p>Placed {len(links)} item(s).</p>", 200


def _score_problem(body: Any, platform: TestPlatform) -> str | None:
    if not isinstance(body, dict):
        return "the score is not a JSON object"
    if body.get("userId") not in platform.members:
        return "unknown userId"
    if body.get("activityProgress") not in ACTIVITY_PROGRESS:
        return "bad activityProgress"
    if body.get("gradingProgress") not in GRADING_PROGRESS:
        return "bad gradingProgress"
    try:
        datetime.fromisoformat(str(body.get("timestamp")))
    except ValueError:
        return "bad timestamp"
    if "scoreGiven" in body:
        given, maximum = body.get("scoreGiven"), body.get("scoreMaximum")
        if not isinstance(given, int | float) or not isinstance(maximum, int | float):
            return "scoreGiven and scoreMaximum must be numbers"
        if maximum <= 0 or given < 0:
            return "scoreMaximum must be positive, scoreGiven not negative"
    return None


def _verify_deep_link(
    platform: TestPlatform, token: str, tool_jwks: Callable[[], Any]
) -> list[dict[str, Any]]:
    header = jwt.get_unverified_header(token)
    if header.get("alg") != "RS256":
        raise ValueError("alg must be RS256")
    jwk = next(k for k in tool_jwks()["keys"] if k["kid"] == header.get("kid"))
    key = RSAAlgorithm.from_jwk(json.dumps(jwk))
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA key")
    claims = jwt.decode(
        token,
        key,
        algorithms=["RS256"],
        audience=platform.issuer,
        issuer=platform.client_id,
        options={"require": ["iss", "aud", "exp", "iat", "nonce"]},
    )
    book = platform.gradebook
    if claims["nonce"] in book.seen_nonces:
        raise ValueError("nonce already used")
    if claims.get(LTI + "deployment_id") != platform.deployment_id:
        raise ValueError("wrong deployment_id")
    if claims.get(LTI + "message_type") != "LtiDeepLinkingResponse":
        raise ValueError("wrong message_type")
    if claims.get(LTI + "version") != "1.3.0":
        raise ValueError("wrong version")
    if claims.get(DL + "data") != platform.deep_link_data:
        raise ValueError("data not echoed")
    items = claims.get(DL + "content_items")
    if not isinstance(items, list):
        raise ValueError("content_items missing")
    book.seen_nonces.add(claims["nonce"])
    created: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, dict) or item.get("type") != "ltiResourceLink":
            raise ValueError("only ltiResourceLink items are accepted")
        link_id = f"dl-link-{len(book.links) + 1}"
        link: dict[str, Any] = {
            "id": link_id,
            "title": item.get("title"),
            "text": item.get("text"),
            "url": item.get("url"),
            "custom": dict(item.get("custom") or {}),
            "lineitem": None,
        }
        spec = item.get("lineItem")
        if isinstance(spec, dict):
            line = book.add_lineitem(
                platform,
                str(spec.get("label") or item.get("title") or link_id),
                float(spec["scoreMaximum"]),
                resource_id=spec.get("resourceId"),
                tag=spec.get("tag"),
                resource_link_id=link_id,
            )
            link["lineitem"] = line["id"]
        book.links.append(link)
        created.append(link)
    return created


def fetch_tool_jwks(platform: TestPlatform) -> Callable[[], Any]:
    """The tool's JWKS over HTTP, as a real LMS fetches it."""

    def fetch() -> Any:
        return requests.get(platform.tool_url + "/lti/jwks", timeout=5).json()

    return fetch
