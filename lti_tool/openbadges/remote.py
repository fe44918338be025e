"""Gather what verifying another issuer's credential needs from the network, up front.

:func:`collect` resolves the did:web DIDs a credential (or a VC-JWT ``kid``) names and fetches
its foreign Bitstring Status List credentials, checking each list's own proof. Everything is
fetched *before* the caller opens a database session (SQLite rule: no transaction held across
an outbound HTTP call); verification then runs offline against the returned
:class:`RemoteMaterial`. Failures are stored, not raised, so the report can say what failed.

did:key DIDs need nothing; ``is_local(did_or_url)`` marks our own DID and status lists, which
the caller resolves from its database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import dataintegrity as DI
from .did_web import RemoteFetcher, RemoteFetchError, resolve_did_web
from .keys import DID_RESOLUTION_FAILED, DidResolutionError


@dataclass
class RemoteMaterial:
    dids: dict[str, dict[str, Any] | DidResolutionError] = field(default_factory=dict)
    #: status list URL -> verified list credential, or why it is unusable.
    status_lists: dict[str, dict[str, Any] | RemoteFetchError] = field(default_factory=dict)

    def did_document(self, did: str) -> dict[str, Any]:
        found = self.dids.get(did)
        if found is None:
            raise DidResolutionError(DID_RESOLUTION_FAILED, f"{did} was not resolved")
        if isinstance(found, DidResolutionError):
            raise found
        return found

    def status_list(self, url: str) -> dict[str, Any] | None:
        """The verified list credential; None when not fetched (host not allowed, ours)."""
        found = self.status_lists.get(url)
        if isinstance(found, RemoteFetchError):
            raise found
        return found


def _issuer_id(document: Mapping[str, Any]) -> str | None:
    issuer = document.get("issuer")
    if isinstance(issuer, Mapping):
        issuer = issuer.get("id")
    return issuer if isinstance(issuer, str) else None


def named_dids(document: Mapping[str, Any]) -> list[str]:
    """The DIDs of the proofs' verification methods, then the issuer's."""
    raw = document.get("proof")
    proofs = raw if isinstance(raw, list) else [raw]
    found: list[str] = []
    for proof in proofs:
        if isinstance(proof, Mapping) and isinstance(proof.get("verificationMethod"), str):
            found.append(str(proof["verificationMethod"]).partition("#")[0])
    issuer = _issuer_id(document)
    if issuer is not None and issuer.startswith("did:"):
        found.append(issuer)
    return list(dict.fromkeys(found))


def status_urls(document: Mapping[str, Any]) -> list[str]:
    entry = document.get("credentialStatus")
    entries = entry if isinstance(entry, list) else [entry]
    urls = [
        str(item["statusListCredential"])
        for item in entries
        if isinstance(item, Mapping) and isinstance(item.get("statusListCredential"), str)
    ]
    return list(dict.fromkeys(urls))


def _resolve(
    material: RemoteMaterial, did: str, fetcher: RemoteFetcher, is_local: Callable[[str], bool]
) -> None:
    if did in material.dids or did.startswith("did:key:") or is_local(did):
        return
    try:
        material.dids[did] = resolve_did_web(did, fetcher)
    except DidResolutionError as exc:
        material.dids[did] = exc


def collect(
    document: Mapping[str, Any],
    fetcher: RemoteFetcher,
    *,
    is_local: Callable[[str], bool],
    extra_dids: Iterable[str] = (),
) -> RemoteMaterial:
    """Resolve foreign DIDs and fetch + verify foreign status lists of ``document``."""
    material = RemoteMaterial()
    for did in [*named_dids(document), *extra_dids]:
        _resolve(material, did, fetcher, is_local)
    issuer = _issuer_id(document)
    for url in status_urls(document):
        if is_local(url) or not fetcher.allows_url(url):
            continue  # ours (checked from the database) or not ours to fetch: not checked
        try:
            listed = fetcher.get_json(url)
        except RemoteFetchError as exc:
            material.status_lists[url] = exc
            continue
        material.status_lists[url] = _checked_list(material, listed, url, issuer, fetcher, is_local)
    return material


def _checked_list(
    material: RemoteMaterial,
    listed: dict[str, Any],
    url: str,
    issuer: str | None,
    fetcher: RemoteFetcher,
    is_local: Callable[[str], bool],
) -> dict[str, Any] | RemoteFetchError:
    """The status list credential if it is ``url``'s, by the same issuer, with a valid proof."""
    if listed.get("id") != url:
        return RemoteFetchError("fetch-failed", f"{url}: the status list has another id")
    if _issuer_id(listed) != issuer:
        return RemoteFetchError(
            "fetch-failed", f"{url}: the status list is not issued by the credential's issuer"
        )
    for did in named_dids(listed):
        _resolve(material, did, fetcher, is_local)
    result = DI.verify(listed, resolver=material.did_document)
    if not result.verified:
        return RemoteFetchError(
            "fetch-failed", f"{url}: the status list proof does not verify: {result.errors[0]}"
        )
    return listed
