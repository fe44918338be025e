"""upsertCredential with MICROCRED_OBAPI_UPSERT=enabled: a connected client writes
credentials (JSON or VC-JWT) for the learner; they come back through getCredentials."""

from __future__ import annotations

import dataclasses

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask.testing import FlaskClient

from lti_tool.obapi import scopes as S
from lti_tool.openbadges import dataintegrity as DI
from lti_tool.openbadges import vcjwt
from lti_tool.openbadges.keys import SigningKey
from lti_tool.settings import Settings
from tests.openbadges.conftest import build
from tests.web.conftest import As

from .conftest import ALL_READ, API, TOOL_URL, Wallet, register, schema_errors, sign_in

WRITE = f"{ALL_READ} {S.CREDENTIAL_UPSERT}"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, obapi_upsert="enabled")


@pytest.fixture
def writer(client: FlaskClient, student: As) -> tuple[Wallet, str]:
    wallet = register(client, scope=WRITE)
    sign_in(student)
    return wallet, wallet.connect(scope=WRITE)["access_token"]


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.for_did_key(Ed25519PrivateKey.generate())


def test_discovery_offers_upsert(client: FlaskClient) -> None:
    doc = client.get(API + "/discovery", base_url=TOOL_URL).get_json()
    flow = doc["components"]["securitySchemes"]["OAuth2ACG"]["flows"]["authorizationCode"]
    assert S.CREDENTIAL_UPSERT in flow["scopes"]
    assert doc["paths"]["/credentials"]["post"]["operationId"] == "upsertCredential"


def test_upsert_json_then_replace(writer: tuple[Wallet, str], key: SigningKey) -> None:
    wallet, access = writer
    credential = DI.sign(build(key, 7), key)
    auth = {"Authorization": f"Bearer {access}"}
    created = wallet.post("/credentials", json=credential, headers=auth)
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.get_json() == credential
    changed = dict(credential, name="Python 101 (renamed)")
    replaced = wallet.post("/credentials", json=changed, headers=auth)
    assert replaced.status_code == 200
    listed = wallet.bearer("/credentials", access)
    assert listed.headers["X-Total-Count"] == "1"
    body = listed.get_json()
    assert body["credential"] == [changed]
    assert schema_errors("ob_v3p0_getopenbadgecredentialsresponse_schema.json", body) == []


def test_upsert_vc_jwt(writer: tuple[Wallet, str], key: SigningKey) -> None:
    wallet, access = writer
    token = vcjwt.sign(build(key, 8), key.private_key, kid=key.verification_method)
    created = wallet.post(
        "/credentials",
        data=token,
        content_type="text/plain",
        headers={"Authorization": f"Bearer {access}"},
    )
    assert created.status_code == 201
    assert created.get_data(as_text=True) == token
    body = wallet.bearer("/credentials", access).get_json()
    assert body["compactJwsString"] == [token]
    assert schema_errors("ob_v3p0_getopenbadgecredentialsresponse_schema.json", body) == []


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"json": {"id": "urn:x", "type": ["VerifiableCredential"]}}, "not an OB 3.0 credential"),
        ({"json": ["a list"]}, "credential object"),
        ({"data": "{not json", "content_type": "application/json"}, "not JSON"),
        ({"data": "not.a-jws", "content_type": "text/plain"}, "compact JWS"),
        ({"data": "<xml/>", "content_type": "application/xml"}, "application/json"),
    ],
)
def test_upsert_refuses_what_is_not_a_credential(
    writer: tuple[Wallet, str], kwargs: dict[str, object], needle: str
) -> None:
    wallet, access = writer
    response = wallet.post("/credentials", headers={"Authorization": f"Bearer {access}"}, **kwargs)
    assert response.status_code == 400
    body = response.get_json()
    assert schema_errors("ob_v3p0_imsx_statusinfo_schema.json", body) == []
    assert needle in body["imsx_description"]
    assert wallet.bearer("/credentials", access).headers["X-Total-Count"] == "0"


def test_upsert_needs_the_scope(client: FlaskClient, student: As, key: SigningKey) -> None:
    wallet = register(client, scope=WRITE)
    sign_in(student)
    access = wallet.connect(scope=ALL_READ)["access_token"]
    response = wallet.post(
        "/credentials",
        json=DI.sign(build(key, 9), key),
        headers={"Authorization": f"Bearer {access}"},
    )
    assert response.status_code == 403
