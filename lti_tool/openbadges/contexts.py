"""Offline JSON-LD document loader: bundled contexts only, never the network.

pyld calls a document loader as ``loader(url, options) -> RemoteDocument``. Ours serves the
copies in ``contexts/`` (see the README there) and raises :class:`pyld.jsonld.JsonLdError` for
any other URL, so an unknown context fails the operation instead of a download at issue time.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from pyld.jsonld import JsonLdError  # type: ignore[import-untyped]

VC_V2 = "https://www.w3.org/ns/credentials/v2"
OB_V3P0_303 = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
STATUS_LIST_V1 = "https://www.w3.org/ns/credentials/status/v1"
DATA_INTEGRITY_V2 = "https://w3id.org/security/data-integrity/v2"
MULTIKEY_V1 = "https://w3id.org/security/multikey/v1"

#: URL -> file name in ``lti_tool/openbadges/contexts/``.
BUNDLED_CONTEXT_FILES: Mapping[str, str] = MappingProxyType(
    {
        VC_V2: "credentials-v2.jsonld",
        OB_V3P0_303: "ob-v3p0-context-3.0.3.json",
        "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.2.json": "ob-v3p0-context-3.0.2.json",
        "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.1.json": "ob-v3p0-context-3.0.1.json",
        "https://purl.imsglobal.org/spec/ob/v3p0/context.json": "ob-v3p0-context.json",
        STATUS_LIST_V1: "credentials-status-v1.jsonld",
        DATA_INTEGRITY_V2: "data-integrity-v2.jsonld",
        MULTIKEY_V1: "multikey-v1.jsonld",
    }
)

RemoteDocument = dict[str, Any]
DocumentLoader = Callable[[str, Any], RemoteDocument]


@cache
def bundled_context(url: str) -> Mapping[str, Any]:
    """Parsed JSON of a bundled context (cached; treat as read-only)."""
    try:
        name = BUNDLED_CONTEXT_FILES[url]
    except KeyError:
        raise _unknown(url) from None
    text = resources.files(__package__).joinpath("contexts", name).read_text(encoding="utf-8")
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def _unknown(url: str) -> JsonLdError:
    return JsonLdError(
        f"Refusing to load JSON-LD document {url!r}: not a bundled context (offline loader).",
        "jsonld.LoadDocumentError",
        {"url": url},
        code="loading document failed",
    )


def _remote_document(url: str, document: Any) -> RemoteDocument:
    return {"contextUrl": None, "documentUrl": url, "document": document}


def offline_document_loader(url: str, options: Any = None) -> RemoteDocument:
    """pyld document loader serving bundled contexts only.

    Returns a fresh deep copy each time: pyld may mutate what it receives.
    """
    if url not in BUNDLED_CONTEXT_FILES:
        raise _unknown(url)
    return _remote_document(url, json.loads(json.dumps(bundled_context(url))))


def unknown_contexts(context: Any) -> list[str]:
    """The context URLs of a ``@context`` value that are not bundled (inline objects pass)."""
    items = context if isinstance(context, list) else [context]
    return [item for item in items if isinstance(item, str) and item not in BUNDLED_CONTEXT_FILES]


def make_document_loader(extra: Mapping[str, Mapping[str, Any]]) -> DocumentLoader:
    """An offline loader serving the bundled contexts plus ``extra`` (URL -> parsed JSON).

    Meant for tests and for deployments that must accept another context they bundle
    themselves; still never touches the network.
    """
    frozen = {url: json.dumps(doc) for url, doc in extra.items()}

    def loader(url: str, options: Any = None) -> RemoteDocument:
        if url in frozen:
            return _remote_document(url, json.loads(frozen[url]))
        return offline_document_loader(url, options)

    return loader
