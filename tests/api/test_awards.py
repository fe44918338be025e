"""/api/v1/awards: award by id, email or HR id; filters; revoke, suspend, reinstate with
the API client recorded as the actor; every refusal a problem document."""

from __future__ import annotations

from sqlalchemy import select

from lti_tool.db import Database
from lti_tool.models import AuditEvent

from .conftest import Api, Tenant, award_body

PROBLEM = "application/problem+json"


def test_award_then_award_again_returns_the_same_award(api_a: Api, tenant_a: Tenant) -> None:
    created = api_a.post(
        "/api/v1/awards",
        json=award_body(
            tenant_a, evidence_url="https://evidence.example.edu/1", evidence_text="Project"
        ),
    )
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["status"] == "active"
    assert body["source"] == "api"
    assert body["learner"]["id"] == tenant_a.learner_ids[0]
    assert body["learner"]["hr_ids"] == {"employee_id": "E1000"}
    assert body["evidence_url"] == "https://evidence.example.edu/1"
    assert created.headers["ETag"]
    again = api_a.post("/api/v1/awards", json=award_body(tenant_a))
    assert again.status_code == 200
    assert again.get_json()["id"] == body["id"]


def test_learner_found_by_email_or_hr_id(api_a: Api, tenant_a: Tenant) -> None:
    by_email = api_a.post(
        "/api/v1/awards",
        json={
            "achievement_id": tenant_a.achievement_id,
            "learner": {"email": "LEARNER1@lms1.example.edu"},
        },
    )
    assert by_email.status_code == 201
    assert by_email.get_json()["learner"]["id"] == tenant_a.learner_ids[1]
    by_hr = api_a.post(
        "/api/v1/awards",
        json={
            "achievement_id": tenant_a.achievement_id,
            "learner": {"hr_id": "E1002", "hr_id_kind": "employee_id"},
        },
    )
    assert by_hr.status_code == 201
    assert by_hr.get_json()["learner"]["id"] == tenant_a.learner_ids[2]


def test_unknown_learner_or_achievement_is_422_and_nothing_is_written(
    api_a: Api, tenant_a: Tenant
) -> None:
    no_learner = api_a.post(
        "/api/v1/awards",
        json={"achievement_id": tenant_a.achievement_id, "learner": {"email": "x@nowhere.test"}},
    )
    assert no_learner.status_code == 422
    assert no_learner.mimetype == PROBLEM
    assert no_learner.get_json()["errors"] == {"learner": ["no such learner"]}
    no_achievement = api_a.post(
        "/api/v1/awards", json={"achievement_id": 999, "learner": {"id": tenant_a.learner_ids[0]}}
    )
    assert no_achievement.status_code == 422
    two_refs = api_a.post(
        "/api/v1/awards",
        json={"achievement_id": tenant_a.achievement_id, "learner": {"id": 1, "email": "a@b.c"}},
    )
    assert two_refs.status_code == 422
    assert "learner" in two_refs.get_json()["errors"]
    assert api_a.get("/api/v1/awards").get_json() == []


def test_result_outside_the_achievement_range_is_refused(api_a: Api, tenant_a: Tenant) -> None:
    achievement = api_a.post(
        "/api/v1/achievements",
        json={
            "name": "Graded",
            "description": "A graded skill.",
            "criteria_narrative": "Score well.",
            "result_description": {"result_type": "Percent", "name": "Score"},
        },
    ).get_json()
    refused = api_a.post(
        "/api/v1/awards",
        json={
            "achievement_id": achievement["id"],
            "learner": {"id": tenant_a.learner_ids[0]},
            "result": {"value": 120},
        },
    )
    assert refused.status_code == 422
    assert refused.get_json()["type"].endswith("invalid-result")
    ok = api_a.post(
        "/api/v1/awards",
        json={
            "achievement_id": achievement["id"],
            "learner": {"id": tenant_a.learner_ids[0]},
            "result": {"value": 87.5},
        },
    )
    assert ok.status_code == 201
    assert ok.get_json()["result"] == {"value": 87.5}


def test_suspend_reinstate_revoke_and_the_audit_trail(
    api_a: Api, tenant_a: Tenant, database: Database
) -> None:
    award_id = api_a.post("/api/v1/awards", json=award_body(tenant_a)).get_json()["id"]
    suspended = api_a.post(f"/api/v1/awards/{award_id}/suspend", json={"reason": "Audit"})
    assert suspended.status_code == 200
    assert suspended.get_json()["status"] == "suspended"
    reinstated = api_a.post(f"/api/v1/awards/{award_id}/reinstate", json={})
    assert reinstated.get_json()["status"] == "active"
    revoked = api_a.post(f"/api/v1/awards/{award_id}/revoke", json={"reason": "Fraud"})
    assert revoked.status_code == 200
    assert revoked.get_json()["status"] == "revoked"
    assert revoked.get_json()["status_reason"] == "Fraud"
    again = api_a.post(f"/api/v1/awards/{award_id}/revoke", json={"reason": "Twice"})
    assert again.status_code == 409
    assert again.mimetype == PROBLEM
    assert "revocation is permanent" in again.get_json()["detail"]
    no_reason = api_a.post(f"/api/v1/awards/{award_id}/suspend", json={})
    assert no_reason.status_code == 422
    with database.read_session() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.subject_type == "award").order_by(AuditEvent.id)
        ).all()
        actions = [(e.action, e.actor) for e in events]
    client_actor = actions[0][1]
    assert client_actor.startswith("api-client:")
    assert actions == [
        ("award.created", client_actor),
        ("award.suspended", client_actor),
        ("award.reinstated", client_actor),
        ("award.revoked", client_actor),
    ]


def test_filters(api_a: Api, tenant_a: Tenant) -> None:
    ids = [
        api_a.post("/api/v1/awards", json=award_body(tenant_a, learner=i)).get_json()["id"]
        for i in range(3)
    ]
    api_a.post(f"/api/v1/awards/{ids[1]}/revoke", json={"reason": "r"})

    def listed(query: str) -> list[int]:
        response = api_a.get(f"/api/v1/awards?{query}")
        assert response.status_code == 200, response.get_json()
        return [a["id"] for a in response.get_json()]

    assert sorted(listed("")) == ids
    assert listed("status=revoked") == [ids[1]]
    assert sorted(listed("status=active")) == [ids[0], ids[2]]
    assert listed(f"learner_id={tenant_a.learner_ids[2]}") == [ids[2]]
    assert listed("email=learner0@lms1.example.edu") == [ids[0]]
    assert listed("hr_id=HR-1-1") == [ids[1]]
    assert listed("email=nobody@lms1.example.edu") == []
    assert sorted(listed(f"achievement_id={tenant_a.achievement_id}")) == ids
    assert listed("achievement_id=424242") == []
    assert api_a.get("/api/v1/awards?status=bogus").status_code == 422
    assert api_a.get("/api/v1/awards?updated_since=2026-01-01T00:00:00").status_code == 422
    assert api_a.get("/api/v1/awards?limit=501").status_code == 422


def test_get_one_and_404(api_a: Api, tenant_a: Tenant) -> None:
    award_id = api_a.post("/api/v1/awards", json=award_body(tenant_a)).get_json()["id"]
    got = api_a.get(f"/api/v1/awards/{award_id}")
    assert got.status_code == 200
    assert got.get_json()["id"] == award_id
    missing = api_a.get("/api/v1/awards/999999")
    assert missing.status_code == 404
    assert missing.mimetype == PROBLEM
    assert api_a.get("/api/v1/awards/99999999999").status_code == 404


def test_list_rows_are_shaped_exactly_like_the_schema_dump(api_a: Api, tenant_a: Tenant) -> None:
    """The list reads plain rows (fast path); a single award goes through AwardOutSchema."""
    graded = api_a.post(
        "/api/v1/achievements",
        json={
            "name": "Graded",
            "description": "D.",
            "criteria_narrative": "C.",
            "validity_days": 30,
            "result_description": {"result_type": "Percent", "name": "Score"},
        },
    ).get_json()["id"]
    api_a.post("/api/v1/awards", json=award_body(tenant_a, evidence_text="Essay"))
    second = api_a.post(
        "/api/v1/awards",
        json={
            "achievement_id": graded,
            "learner": {"id": tenant_a.learner_ids[1]},
            "result": {"value": 91},
            "evidence_url": "https://e.example/x",
            "issued_at": "2026-11-01T10:00:00+02:00",
        },
    ).get_json()["id"]
    api_a.post(f"/api/v1/awards/{second}/suspend", json={"reason": "Check"})
    listed = api_a.get("/api/v1/awards").get_json()
    assert len(listed) == 2
    for item in listed:
        assert item == api_a.get(f"/api/v1/awards/{item['id']}").get_json()
    assert {item["status"] for item in listed} == {"active", "suspended"}
