"""The tool's key set: published keys, rotation, pruning, encryption at rest."""

from __future__ import annotations

import jwt
import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from lti_tool.db import Database
from lti_tool.keys import SigningKeyCache, list_keys, prune, rotate
from lti_tool.models import ToolKey
from lti_tool.secretbox import SecretBox, SecretBoxError

from ..conftest import SECRET_KEY


def _kids(client: FlaskClient) -> list[str]:
    response = client.get("/lti/jwks")
    assert response.status_code == 200
    assert response.headers["Cache-Control"].startswith("public")
    keys = response.get_json()["keys"]
    for key in keys:
        assert {"kty", "n", "e", "kid", "alg", "use"} <= key.keys()
        assert key["alg"] == "RS256" and key["use"] == "sig"
        assert "d" not in key and "p" not in key  # never a private part
    return [k["kid"] for k in keys]


def test_jwks_publishes_current_and_next(client: FlaskClient, database: Database) -> None:
    kids = _kids(client)
    assert len(kids) == 2
    with database.session() as s:
        statuses = {k.kid: k.status for k in list_keys(s)}
    assert sorted(statuses.values()) == ["current", "next"]
    assert set(kids) == set(statuses)


def test_rotate_then_prune(client: FlaskClient, database: Database) -> None:
    box = SecretBox(SECRET_KEY)
    before = _kids(client)
    with database.session() as s:
        new_current = rotate(s, box).kid
    after = _kids(client)
    assert new_current in before  # the pre-published next key signs now
    assert set(before) < set(after) and len(after) == 3
    with database.session() as s:
        assert prune(s) == 1
    assert len(_kids(client)) == 2


def test_signing_key_follows_rotation(database: Database, client: FlaskClient) -> None:
    box = SecretBox(SECRET_KEY)
    cache = SigningKeyCache(box)
    with database.session() as s:
        first = cache.current(s)
        token = jwt.encode(
            {"x": 1}, first.private_key, algorithm="RS256", headers={"kid": first.kid}
        )
        rotate(s, box)
        second = cache.current(s)
    assert first.kid != second.kid
    # Tokens signed before the rotation still verify with the published (retired) key.
    published = {k["kid"]: k for k in client.get("/lti/jwks").get_json()["keys"]}
    key = jwt.algorithms.RSAAlgorithm.from_jwk(published[first.kid])
    assert jwt.decode(token, key, algorithms=["RS256"]) == {"x": 1}  # type: ignore[arg-type]


def test_private_keys_are_encrypted_at_rest(database: Database, client: FlaskClient) -> None:
    with database.session() as s:
        stored = s.scalars(select(ToolKey.private_key_encrypted)).all()
    for blob in stored:
        assert b"PRIVATE KEY" not in blob
        assert SecretBox(SECRET_KEY).decrypt(blob).startswith(b"-----BEGIN PRIVATE KEY")
        with pytest.raises(SecretBoxError, match="MICROCRED_PREVIOUS_SECRET_KEYS"):
            SecretBox("another-secret-key-" + "y" * 32).decrypt(blob)


def test_secret_key_rotation_keeps_old_values_readable() -> None:
    old = SecretBox("old-secret-" + "a" * 32)
    token = old.encrypt(b"value")
    new = SecretBox("new-secret-" + "b" * 32, previous_keys=["old-secret-" + "a" * 32])
    assert new.decrypt(token) == b"value"
    assert SecretBox("new-secret-" + "b" * 32).decrypt(new.rotate(token)) == b"value"
