"""POST /verify of other issuers' credentials: did:web resolution over an allow-list, status
lists fetched from the issuer's host, and a problem document for each way it can fail.

The other issuer is a real HTTP server on loopback (did:web:127.0.0.1%3A<port>); since
did:web means https, the app allows plain http through ``allow_insecure_did_web_for_tests``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask.testing import FlaskClient
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from lti_tool.credentials import issuance
from lti_tool.db import Database
from lti_tool.openbadges import credential as C
from lti_tool.openbadges import dataintegrity as DI
from lti_tool.openbadges import statuslist as SL
from lti_tool.openbadges import vcjwt
from lti_tool.openbadges.did_web import (
    FETCH_FAILED,
    HOST_NOT_ALLOWED,
    RemoteFetcher,
    RemoteFetchError,
    RemotePolicy,
    normalise_host,
    parse_allowlist,
    resolve_did_web,
)
from lti_tool.openbadges.keys import (
    DID_RESOLUTION_FAILED,
    DidResolutionError,
    SigningKey,
    did_web_document,
)
from lti_tool.settings import Settings, SettingsError, load_settings
from tests.conftest import SECRET_KEY, TOOL_URL
from tests.openbadges.conftest import build

from .conftest import award_one

Handler = Callable[[Request], Response]


@dataclass
class OtherIssuer:
    """Another Open Badges issuer, served for real on 127.0.0.1."""

    port: int = 0
    routes: dict[str, Handler] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)
    revoked: set[int] = field(default_factory=set)
    private_key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def base(self) -> str:
        return f"http://{self.host}"

    @property
    def did(self) -> str:
        return f"did:web:127.0.0.1%3A{self.port}"

    @property
    def key(self) -> SigningKey:
        return SigningKey.for_did_web(self.private_key, self.did)

    def did_document(self) -> dict[str, Any]:
        # did_web_document wants the https URL the DID stands for; the DID is the same.
        return did_web_document(f"https://{self.host}", [self.private_key.public_key()])

    def status_list(self) -> dict[str, Any]:
        bits = SL.Bitstring()
        for index in self.revoked:
            bits.set(index)
        unsigned = SL.status_list_credential(
            list_id=f"{self.base}/status/1",
            issuer_id=self.did,
            purpose="revocation",
            bitstring=bits,
            valid_from=DI.parse_rfc3339("2025-01-01T00:00:00Z"),
        )
        return DI.sign(unsigned, self.key, proof_as_array=False)

    def credential(self, i: int = 0, *, with_status: bool = True) -> dict[str, Any]:
        status = (
            (
                C.StatusEntry(
                    id=f"{self.base}/status/1#{i}",
                    purpose="revocation",
                    index=i,
                    list_credential=f"{self.base}/status/1",
                ),
            )
            if with_status
            else ()
        )
        return DI.sign(build(self.key, i, status=status), self.key)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        self.hits.append(request.path)
        handler = self.routes.get(request.path)
        response = Response("not found", status=404) if handler is None else handler(request)
        return response(environ, start_response)


def _json(data: Any) -> Response:
    return Response(json.dumps(data), mimetype="application/json")


@pytest.fixture
def other() -> Iterator[OtherIssuer]:
    issuer = OtherIssuer()
    server = make_server("127.0.0.1", 0, issuer, threaded=True)
    issuer.port = server.server_port
    issuer.routes["/.well-known/did.json"] = lambda r: _json(issuer.did_document())
    issuer.routes["/status/1"] = lambda r: _json(issuer.status_list())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield issuer
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def settings(database: Database, tmp_path: Path, other: OtherIssuer) -> Settings:
    return load_settings(
        {},
        database_url=database.url,
        public_url=TOOL_URL,
        secret_key=SECRET_KEY,
        instance_path=str(tmp_path),
        verify_did_web_allowlist=f"{other.host}, partner.example",
        allow_insecure_did_web_for_tests=True,
        verify_http_timeout=1.0,
        verify_max_bytes=16 * 1024,
    )


def post(client: FlaskClient, document: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = client.post("/verify", json=document)
    return response.status_code, response.get_json()


# -- it works ----------------------------------------------------------------------------


def test_foreign_did_web_credential_verifies_with_live_status(
    client: FlaskClient, issuer: issuance.CredentialIssuer, other: OtherIssuer
) -> None:
    credential = other.credential(7)
    code, answer = post(client, credential)
    assert code == 200, answer
    assert answer["verified"] is True and answer["status"] == "valid"
    checks = {c["check"]: c for c in answer["checks"]}
    assert checks["proof"]["result"] == "passed"
    assert checks["status"]["result"] == "passed"
    assert "/.well-known/did.json" in other.hits and "/status/1" in other.hits

    other.revoked.add(7)  # the issuer revokes: the next verification sees it
    code, answer = post(client, credential)
    assert code == 200
    assert answer["verified"] is False and answer["status"] == "revoked"


def test_foreign_vc_jwt_verifies(
    client: FlaskClient, issuer: issuance.CredentialIssuer, other: OtherIssuer
) -> None:
    credential = other.credential(3)
    token = vcjwt.sign(credential, other.private_key, kid=other.key.verification_method)
    response = client.post("/verify", data=token, content_type="application/jwt")
    answer = response.get_json()
    assert response.status_code == 200, answer
    assert answer["verified"] is True
    assert answer["checks"][0] == {"check": "vc-jwt", "result": "passed", "detail": "EdDSA"}


def test_vc_jwt_of_a_host_not_allowed_is_a_problem(
    client: FlaskClient, issuer: issuance.CredentialIssuer, other: OtherIssuer
) -> None:
    stranger = SigningKey.for_did_web(other.private_key, "did:web:127.0.0.1%3A9")
    token = vcjwt.sign(build(stranger, 1), other.private_key, kid=stranger.verification_method)
    response = client.post("/verify", data=token, content_type="application/jwt")
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["type"] == "urn:microcred:problem:did-host-not-allowed"
    assert other.hits == []


def test_same_host_redirect_is_followed(
    client: FlaskClient, issuer: issuance.CredentialIssuer, other: OtherIssuer
) -> None:
    did = f"{other.did}:moved"
    key = SigningKey.for_did_web(other.private_key, did)
    document = did_web_document(f"https://{other.host}/moved", [other.private_key.public_key()])
    other.routes["/moved/did.json"] = lambda r: Response(status=302, headers={"Location": "/new"})
    other.routes["/new"] = lambda r: _json(document)
    code, answer = post(client, DI.sign(build(key, 1, status=()), key))
    assert code == 200 and answer["verified"] is True, answer


# -- each failure is a clear problem document ----------------------------------------------


def _problem(client: FlaskClient, document: dict[str, Any], kind: str) -> dict[str, Any]:
    response = client.post("/verify", json=document)
    assert response.status_code == 422, response.get_json()
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["type"] == f"urn:microcred:problem:{kind}", problem
    assert problem["status"] == 422 and problem["title"] and problem["detail"]
    assert problem["verified"] is False
    return problem


def test_host_not_on_allowlist_is_never_fetched(
    client: FlaskClient, issuer: issuance.CredentialIssuer, other: OtherIssuer
) -> None:
    stranger = SigningKey.for_did_web(other.private_key, "did:web:127.0.0.1%3A9")
    problem = _problem(client, DI.sign(build(stranger, 1), stranger), "did-host-not-allowed")
    assert "allow-list" in problem["detail"]
    assert other.hits == []


def test_other_did_on_our_host_is_resolved_locally_and_refused(
    client: FlaskClient, database: Database, issuer: issuance.CredentialIssuer, other: OtherIssuer
) -> None:
    award_one(database)  # our issuer key exists: did:web:tool.test is published
    impostor = SigningKey.for_did_web(Ed25519PrivateKey.generate(), "did:web:tool.test:evil")
    problem = _problem(client, DI.sign(build(impostor, 1), impostor), "did-resolution-failed")
    assert "not a DID this host publishes" in problem["detail"]
    assert other.hits == []


def test_unknown_did_method(client: FlaskClient, issuer: issuance.CredentialIssuer) -> None:
    key = SigningKey(Ed25519PrivateKey.generate(), "did:example:abc#k1", "did:example:abc")
    problem = _problem(client, DI.sign(build(key, 1), key), "unknown-did-method")
    assert "example" in problem["detail"]


def test_bad_signature(
    client: FlaskClient, issuer: issuance.CredentialIssuer, other: OtherIssuer
) -> None:
    tampered = {**other.credential(2), "name": "Changed after signing"}
    problem = _problem(client, tampered, "bad-signature")
    assert [c["check"] for c in problem["checks"]][:1] == ["proof"]


def test_unknown_context(
    client: FlaskClient, issuer: issuance.CredentialIssuer, other: OtherIssuer
) -> None:
    credential = other.credential(2)
    credential["@context"] = [*credential["@context"], "https://evil.example/context.json"]
    problem = _problem(client, credential, "unknown-context")
    assert "https://evil.example/context.json" in problem["detail"]
    assert other.hits == ["/.well-known/did.json", "/status/1"]  # never the context


@pytest.mark.parametrize(
    ("route", "handler", "words"),
    [
        ("/gone/did.json", lambda r: Response("no", status=404), "HTTP 404"),
        (
            "/away/did.json",
            lambda r: Response(
                status=302, headers={"Location": "http://localhost:1/.well-known/did.json"}
            ),
            "another host",
        ),
        ("/big/did.json", lambda r: _json({"id": "x", "pad": "x" * 40_000}), "larger than"),
        ("/slow/did.json", lambda r: (time.sleep(2.5), _json({}))[1], "timed out"),
        ("/text/did.json", lambda r: Response("<html>"), "not JSON"),
        ("/other-id/did.json", lambda r: _json({"id": "did:web:elsewhere"}), "another id"),
    ],
    ids=["404", "redirect-away", "too-big", "slow", "not-json", "wrong-id"],
)
def test_resolution_failures(
    client: FlaskClient,
    issuer: issuance.CredentialIssuer,
    other: OtherIssuer,
    route: str,
    handler: Handler,
    words: str,
) -> None:
    did = f"{other.did}:{route.split('/')[1]}"
    key = SigningKey.for_did_web(other.private_key, did)
    other.routes[route] = handler
    problem = _problem(client, DI.sign(build(key, 1, status=()), key), "did-resolution-failed")
    assert words in problem["detail"]


def test_unavailable_status_list_is_a_problem(
    client: FlaskClient, issuer: issuance.CredentialIssuer, other: OtherIssuer
) -> None:
    del other.routes["/status/1"]
    problem = _problem(client, other.credential(4), "status-list-unavailable")
    assert "HTTP 404" in problem["detail"]


def test_status_list_of_another_issuer_is_refused(
    client: FlaskClient, issuer: issuance.CredentialIssuer, other: OtherIssuer
) -> None:
    impostor = SigningKey.generate_did_key()
    forged = SL.status_list_credential(
        list_id=f"{other.base}/status/1",
        issuer_id=impostor.controller,
        purpose="revocation",
        bitstring=SL.Bitstring(),
        valid_from=DI.parse_rfc3339("2025-01-01T00:00:00Z"),
    )
    other.routes["/status/1"] = lambda r: _json(DI.sign(forged, impostor, proof_as_array=False))
    problem = _problem(client, other.credential(4), "status-list-unavailable")
    assert "not issued by the credential's issuer" in problem["detail"]


def test_status_list_on_host_not_allowed_is_reported_unchecked(
    client: FlaskClient, issuer: issuance.CredentialIssuer
) -> None:
    key = SigningKey.generate_did_key()
    code, answer = post(client, DI.sign(build(key, 1), key))  # status list on example.edu
    assert code == 200, answer
    status = next(c for c in answer["checks"] if c["check"] == "status")
    assert status["result"] == "skipped" and "not checked" in status["detail"]


# -- the fetcher on its own ----------------------------------------------------------------


def test_https_only_unless_insecure_is_explicit(other: OtherIssuer) -> None:
    with requests.Session() as http:
        strict = RemoteFetcher(RemotePolicy(allowed_hosts=frozenset({other.host})), http)
        with pytest.raises(RemoteFetchError) as caught:
            strict.get_json(f"{other.base}/.well-known/did.json")
        assert caught.value.kind == HOST_NOT_ALLOWED
        with pytest.raises(DidResolutionError) as refused:
            resolve_did_web(other.did, strict)
        assert refused.value.kind == DID_RESOLUTION_FAILED
        loose = RemoteFetcher(
            RemotePolicy(allowed_hosts=frozenset({other.host}), insecure_http=True), http
        )
        assert resolve_did_web(other.did, loose)["id"] == other.did
        local = RemoteFetcher(
            RemotePolicy(
                allowed_hosts=frozenset({other.host}),
                local_hosts=frozenset({other.host}),
                insecure_http=True,
            ),
            http,
        )
        with pytest.raises(RemoteFetchError) as ours:
            local.get_json(f"{other.base}/.well-known/did.json")
        assert ours.value.kind == HOST_NOT_ALLOWED
    assert other.hits == ["/.well-known/did.json"]


def test_connection_refused_is_a_fetch_failure() -> None:
    with requests.Session() as http:
        fetcher = RemoteFetcher(
            RemotePolicy(allowed_hosts=frozenset({"127.0.0.1:9"}), insecure_http=True), http
        )
        with pytest.raises(RemoteFetchError) as caught:
            fetcher.get_json("http://127.0.0.1:9/.well-known/did.json")
    assert caught.value.kind == FETCH_FAILED


def test_allowlist_parsing_and_settings() -> None:
    assert parse_allowlist(" A.example , 127.0.0.1:8443,,") == {"a.example", "127.0.0.1:8443"}
    for bad in ("https://a.example", "a.example/path", "user@a.example", "a.example:x"):
        with pytest.raises(ValueError, match="not a host"):
            normalise_host(bad)
    with pytest.raises(SettingsError, match="ALLOWLIST"):
        load_settings({"MICROCRED_VERIFY_DID_WEB_ALLOWLIST": "https://a.example/x"})
    with pytest.raises(SettingsError, match="INSECURE"):
        load_settings(
            {
                "MICROCRED_ENV": "production",
                "MICROCRED_PUBLIC_URL": "https://tool.example",
                "MICROCRED_DATABASE_URL": "sqlite:///x.db",
                "MICROCRED_SECRET_KEY": SECRET_KEY,
                "MICROCRED_ALLOW_INSECURE_DID_WEB_FOR_TESTS": "true",
            }
        )
    assert load_settings({}).allow_insecure_did_web_for_tests is False
    with pytest.raises(SettingsError):
        load_settings({"MICROCRED_ALLOW_INSECURE_DID_WEB_FOR_TESTS": "perhaps"})
