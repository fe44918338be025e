"""ETags from an object's identity and version: `If-None-Match` on reads (304), `If-Match`
on changes (412 when stale). Cheap: no response body is hashed.

flask-smorest's own ETag support hashes the serialised response and makes `If-Match`
mandatory; here it is optional (a client that sends it gets safe updates).
"""

from __future__ import annotations

import hashlib

from flask import Response, request

from .errors import ApiProblem


def etag_of(kind: str, object_id: int, version: object) -> str:
    """An opaque strong validator (unquoted), e.g. for `award`, 7, its version."""
    return hashlib.sha256(f"{kind}:{object_id}:{version}".encode()).hexdigest()[:32]


def not_modified(etag: str) -> Response | None:
    """A 304 when the client's `If-None-Match` already names this version."""
    if request.if_none_match and request.if_none_match.contains_weak(etag):
        response = Response(status=304)
        response.set_etag(etag)
        return response
    return None


def require_match(etag: str) -> None:
    """412 when `If-Match` is given and names another version."""
    if request.if_match and not request.if_match.contains(etag):
        raise ApiProblem(
            412,
            "The object changed since you read it: fetch it again, then retry with its ETag.",
            kind="stale",
        )
