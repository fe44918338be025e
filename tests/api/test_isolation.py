"""Tenant isolation: a client of tenant A cannot read, list, guess or modify anything of
tenant B. Every probe of a B object answers exactly as for an id that does not exist."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from sqlalchemy import select, update

from lti_tool.db import Database
from lti_tool.models import Delivery
from lti_tool.models.sync import DEAD
from lti_tool.secretbox import SecretBox
from lti_tool.sync.connections import add_connection
from tests.conftest import SECRET_KEY

from .conftest import Api, Tenant, award_body

MISSING = 2_000_000
WHSEC = "whsec_" + base64.b64encode(b"k" * 32).decode()


@pytest.fixture
def b_objects(api_b: Api, tenant_b: Tenant, database: Database) -> dict[str, int]:
    pathway = api_b.post(
        "/api/v1/pathways",
        json={
            "name": "B path",
            "requirements": {"kind": "achievement", "achievement_id": tenant_b.achievement_id},
        },
    ).get_json()["id"]
    with database.session() as session:
        connection = add_connection(
            session,
            SecretBox(SECRET_KEY),
            platform_id=tenant_b.platform_id,
            connector="webhook",
            name="B hook",
            settings={"url": "https://hr.b.example/hook"},
            secrets={"secrets": [WHSEC]},
        ).id
    # awarded after the connection exists: the award has a delivery to it
    award = api_b.post("/api/v1/awards", json=award_body(tenant_b)).get_json()["id"]
    return {
        "award": award,
        "achievement": tenant_b.achievement_id,
        "learner": tenant_b.learner_ids[0],
        "pathway": pathway,
        "connection": connection,
    }


def _probes(ids: dict[str, int]) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [
        ("GET", f"/api/v1/awards/{ids['award']}", None),
        ("POST", f"/api/v1/awards/{ids['award']}/revoke", {"reason": "x"}),
        ("POST", f"/api/v1/awards/{ids['award']}/suspend", {"reason": "x"}),
        ("POST", f"/api/v1/awards/{ids['award']}/reinstate", {}),
        ("GET", f"/api/v1/achievements/{ids['achievement']}", None),
        ("PATCH", f"/api/v1/achievements/{ids['achievement']}", {"name": "Mine"}),
        ("POST", f"/api/v1/achievements/{ids['achievement']}/archive", {}),
        ("GET", f"/api/v1/learners/{ids['learner']}", None),
        ("GET", f"/api/v1/learners/{ids['learner']}/awards", None),
        ("GET", f"/api/v1/learners/{ids['learner']}/progress", None),
        ("GET", f"/api/v1/pathways/{ids['pathway']}", None),
        ("PATCH", f"/api/v1/pathways/{ids['pathway']}", {"name": "Mine"}),
        ("POST", f"/api/v1/pathways/{ids['pathway']}/archive", {}),
        ("GET", f"/api/v1/connections/{ids['connection']}", None),
        ("PATCH", f"/api/v1/connections/{ids['connection']}", {"paused": True}),
        ("DELETE", f"/api/v1/connections/{ids['connection']}", None),
        ("POST", f"/api/v1/connections/{ids['connection']}/test", None),
    ]


def test_objects_of_another_tenant_look_like_missing_ones(
    api_a: Api, api_b: Api, tenant_a: Tenant, b_objects: dict[str, int]
) -> None:
    missing = dict.fromkeys(b_objects, MISSING)
    for (method, path, body), (_, missing_path, _) in zip(
        _probes(b_objects), _probes(missing), strict=True
    ):
        probe = api_a.call(method, path, json=body)
        control = api_a.call(method, missing_path, json=body)
        assert probe.status_code == 404, (method, path, probe.get_json())
        assert probe.get_json() == control.get_json(), (method, path)
    # nothing of B changed
    award = api_b.get(f"/api/v1/awards/{b_objects['award']}").get_json()
    assert award["status"] == "active"
    assert (
        api_b.get(f"/api/v1/achievements/{b_objects['achievement']}").get_json()["archived"]
        is False
    )
    connection = api_b.get(f"/api/v1/connections/{b_objects['connection']}").get_json()
    assert connection["paused"] is False
    assert api_b.get(f"/api/v1/pathways/{b_objects['pathway']}").get_json()["name"] == "B path"


def test_lists_and_lookups_only_show_the_own_tenant(
    api_a: Api, api_b: Api, tenant_a: Tenant, tenant_b: Tenant, b_objects: dict[str, int]
) -> None:
    api_a.post("/api/v1/awards", json=award_body(tenant_a))
    for path in (
        "/api/v1/awards",
        "/api/v1/achievements?include_archived=true",
        "/api/v1/pathways?include_archived=true",
        "/api/v1/connections",
        "/api/v1/deliveries",
    ):
        a_items = api_a.get(path).get_json()
        b_items = api_b.get(path).get_json()
        assert b_items, path
        assert not {i["id"] for i in a_items} & {i["id"] for i in b_items}, path
    assert api_a.get("/api/v1/deliveries").get_json() == []
    a_awards = api_a.get("/api/v1/awards").get_json()
    assert {a["learner"]["id"] for a in a_awards} <= set(tenant_a.learner_ids)
    # B's learners cannot be found by their email, HR id or id through A
    assert api_a.get("/api/v1/awards?email=learner0@lms2.example.edu").get_json() == []
    assert api_a.get("/api/v1/awards?hr_id=HR-2-0").get_json() == []
    assert api_a.get(f"/api/v1/awards?learner_id={tenant_b.learner_ids[0]}").get_json() == []
    assert api_a.get("/api/v1/learners/lookup?email=learner0@lms2.example.edu").status_code == 404
    assert api_a.get("/api/v1/learners/lookup?hr_id=E2000").status_code == 404
    assert api_a.get(f"/api/v1/awards?achievement_id={tenant_b.achievement_id}").get_json() == []


def test_cannot_use_another_tenants_objects_in_a_body(
    api_a: Api,
    api_b: Api,
    tenant_a: Tenant,
    tenant_b: Tenant,
    b_objects: dict[str, int],
    database: Database,
) -> None:
    foreign_achievement = api_a.post(
        "/api/v1/awards",
        json={
            "achievement_id": tenant_b.achievement_id,
            "learner": {"id": tenant_a.learner_ids[0]},
        },
    )
    assert foreign_achievement.status_code == 422
    foreign_learner = api_a.post(
        "/api/v1/awards",
        json={
            "achievement_id": tenant_a.achievement_id,
            "learner": {"id": tenant_b.learner_ids[0]},
        },
    )
    assert foreign_learner.status_code == 422
    foreign_pathway_leaf = api_a.post(
        "/api/v1/pathways",
        json={
            "name": "Sneaky",
            "requirements": {"kind": "achievement", "achievement_id": tenant_b.achievement_id},
        },
    )
    assert foreign_pathway_leaf.status_code == 422
    replay = api_a.post(
        "/api/v1/deliveries/replay", json={"connection_id": b_objects["connection"]}
    )
    assert replay.status_code == 404
    with database.session() as session:  # B's delivery is dead; A names it by id
        session.execute(update(Delivery).values(status=DEAD))
        b_deliveries = list(session.scalars(select(Delivery.id)))
    assert b_deliveries
    by_id = api_a.post("/api/v1/deliveries/replay", json={"delivery_ids": b_deliveries})
    assert by_id.get_json() == {"replayed": 0}
    dead = api_b.get("/api/v1/deliveries?state=dead").get_json()
    assert sorted(d["id"] for d in dead) == sorted(b_deliveries)
    progress = api_a.get(
        f"/api/v1/pathways/{b_objects['pathway']}/progress?learner_id={tenant_a.learner_ids[0]}"
    )
    assert progress.status_code == 404
