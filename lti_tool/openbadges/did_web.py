"""Fetch did:web DID documents (and other JSON such as status lists) from allow-listed hosts.

Used by ``POST /verify`` for credentials of other issuers. Anonymous callers choose what we
fetch, so every request is fenced in:

* only hosts on the allow-list (``host`` or ``host:port``, exactly as in the DID), over HTTPS;
  plain HTTP only with :attr:`RemotePolicy.insecure_http` (tests on loopback, never a default);
* our own host is never fetched (the caller resolves it from the database);
* a connect/read timeout and a total deadline per document, a size limit on the body;
* redirects are followed by hand, at most a few, and only within the same scheme and host.

The DID document must have the DID as its ``id`` (W3C did:web, "Read"). Framework-free; the
caller owns the ``requests.Session`` and must not hold a database transaction meanwhile.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote, urljoin, urlsplit

import requests

from .keys import (
    DID_HOST_NOT_ALLOWED,
    DID_RESOLUTION_FAILED,
    UNKNOWN_DID_METHOD,
    DidResolutionError,
    KeyFormatError,
    did_web_document_url,
)

HOST_NOT_ALLOWED: Final = "host-not-allowed"
FETCH_FAILED: Final = "fetch-failed"
REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
ACCEPT: Final = "application/did+json, application/ld+json;q=0.9, application/json;q=0.8"


class RemoteFetchError(Exception):
    """A remote JSON document could not be fetched; ``kind`` is HOST_NOT_ALLOWED or
    FETCH_FAILED."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def normalise_host(value: str) -> str:
    """``Example.EDU`` -> ``example.edu``; ``127.0.0.1:8443`` stays; URLs and paths refused."""
    host = value.strip().lower()
    if not host or "/" in host or "@" in host or " " in host:
        raise ValueError(f"not a host or host:port: {value!r}")
    name, colon, port = host.rpartition(":") if host.count(":") == 1 else (host, "", "")
    if colon and (not name or not port.isdigit()):
        raise ValueError(f"not a host or host:port: {value!r}")
    return host


def parse_allowlist(raw: str | Iterable[str]) -> frozenset[str]:
    """A comma-separated string (the setting) or an iterable of hosts, normalised."""
    items = raw.split(",") if isinstance(raw, str) else raw
    return frozenset(normalise_host(item) for item in items if item.strip())


def url_netloc(url: str) -> str:
    """``https://Host:8443/x`` -> ``host:8443`` (port only when the URL names one)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return f"{host}:{parts.port}" if parts.port is not None else host


def did_web_netloc(did: str) -> str:
    """``did:web:example.edu%3A8443:a`` -> ``example.edu:8443``."""
    if not did.startswith("did:web:"):
        raise DidResolutionError(UNKNOWN_DID_METHOD, f"not a did:web: {did!r}")
    return unquote(did[len("did:web:") :].split(":")[0]).lower()


@dataclass(frozen=True)
class RemotePolicy:
    allowed_hosts: frozenset[str] = frozenset()
    #: Hosts we are: never fetched over HTTP (resolved from our own database).
    local_hosts: frozenset[str] = frozenset()
    #: http:// instead of https:// — loopback tests only (``allow_insecure_did_web_for_tests``).
    insecure_http: bool = False
    timeout: float = 5.0
    max_bytes: int = 128 * 1024
    max_redirects: int = 3

    @property
    def scheme(self) -> str:
        return "http" if self.insecure_http else "https"

    def is_local(self, netloc: str) -> bool:
        return netloc in self.local_hosts

    def allows(self, netloc: str) -> bool:
        return netloc in self.allowed_hosts and not self.is_local(netloc)


class RemoteFetcher:
    """GET small JSON documents from allow-listed hosts under :class:`RemotePolicy`."""

    def __init__(self, policy: RemotePolicy, http: requests.Session) -> None:
        self.policy = policy
        self._http = http

    def allows_url(self, url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme == self.policy.scheme and self.policy.allows(url_netloc(url))

    def get_json(self, url: str) -> dict[str, Any]:
        """The JSON object at ``url``; raises :class:`RemoteFetchError`."""
        if not self.allows_url(url):
            raise RemoteFetchError(
                HOST_NOT_ALLOWED,
                f"{url_netloc(url) or url!r} is not on the verification allow-list "
                f"(MICROCRED_VERIFY_DID_WEB_ALLOWLIST, {self.policy.scheme} only)",
            )
        origin = (urlsplit(url).scheme, url_netloc(url))
        deadline = time.monotonic() + self.policy.timeout
        for _ in range(self.policy.max_redirects + 1):
            body, location = self._get_once(url, deadline)
            if location is None:
                return _json_object(body, url)
            target = urljoin(url, location)
            if (urlsplit(target).scheme, url_netloc(target)) != origin:
                raise RemoteFetchError(FETCH_FAILED, f"{url} redirects to another host")
            url = target
        raise RemoteFetchError(FETCH_FAILED, f"too many redirects from {url}")

    def _get_once(self, url: str, deadline: float) -> tuple[bytes, str | None]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RemoteFetchError(FETCH_FAILED, f"{url}: timed out")
        limit = self.policy.max_bytes
        try:
            with self._http.get(
                url,
                headers={"Accept": ACCEPT},
                timeout=(min(remaining, self.policy.timeout), min(remaining, self.policy.timeout)),
                allow_redirects=False,
                stream=True,
            ) as response:
                if response.status_code in REDIRECTS:
                    return b"", response.headers.get("Location", "")
                if response.status_code != 200:
                    raise RemoteFetchError(FETCH_FAILED, f"{url}: HTTP {response.status_code}")
                declared = response.headers.get("Content-Length")
                if declared is not None and declared.isdigit() and int(declared) > limit:
                    raise RemoteFetchError(FETCH_FAILED, f"{url}: larger than {limit} bytes")
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_content(8192):
                    size += len(chunk)
                    if size > limit:
                        raise RemoteFetchError(FETCH_FAILED, f"{url}: larger than {limit} bytes")
                    if time.monotonic() > deadline:
                        raise RemoteFetchError(FETCH_FAILED, f"{url}: timed out")
                    chunks.append(chunk)
                return b"".join(chunks), None
        except requests.Timeout:
            raise RemoteFetchError(FETCH_FAILED, f"{url}: timed out") from None
        except requests.RequestException as exc:
            raise RemoteFetchError(
                FETCH_FAILED, f"{url}: {type(exc).__name__} (connection failed)"
            ) from None


def _json_object(body: bytes, url: str) -> dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise RemoteFetchError(FETCH_FAILED, f"{url}: not JSON") from None
    if not isinstance(data, dict):
        raise RemoteFetchError(FETCH_FAILED, f"{url}: not a JSON object")
    return data


def did_web_url(did: str, policy: RemotePolicy) -> str:
    """Where the DID document of ``did`` lives under ``policy`` (https, or http in tests)."""
    try:
        url = did_web_document_url(did)
    except KeyFormatError as exc:
        raise DidResolutionError(DID_RESOLUTION_FAILED, f"{did}: {exc}") from None
    return policy.scheme + url[len("https") :]


def resolve_did_web(did: str, fetcher: RemoteFetcher) -> dict[str, Any]:
    """The DID document of a did:web on an allow-listed host (raises DidResolutionError)."""
    if not did.startswith("did:"):
        raise DidResolutionError(UNKNOWN_DID_METHOD, f"not a DID: {did!r}")
    if not did.startswith("did:web:"):
        method = did.split(":")[1] if did.count(":") >= 2 else did
        raise DidResolutionError(
            UNKNOWN_DID_METHOD, f"DID method {method!r} is not supported (did:key, did:web)"
        )
    netloc = did_web_netloc(did)
    if not fetcher.policy.allows(netloc):
        raise DidResolutionError(
            DID_HOST_NOT_ALLOWED,
            f"{did}: host {netloc!r} is not on the verification allow-list "
            "(MICROCRED_VERIFY_DID_WEB_ALLOWLIST)",
        )
    url = did_web_url(did, fetcher.policy)
    try:
        document = fetcher.get_json(url)
    except RemoteFetchError as exc:
        kind = DID_HOST_NOT_ALLOWED if exc.kind == HOST_NOT_ALLOWED else DID_RESOLUTION_FAILED
        raise DidResolutionError(kind, f"{did}: {exc}") from None
    if document.get("id") != did:
        raise DidResolutionError(
            DID_RESOLUTION_FAILED, f"{did}: the document at {url} has another id"
        )
    return document
