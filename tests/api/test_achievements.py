"""/api/v1/achievements: define, list, read, change with If-Match, archive."""

from __future__ import annotations

from .conftest import Api, Tenant, award_body

DEFINITION = {
    "name": "Data literacy",
    "description": "Reads and questions data.",
    "criteria_narrative": "Pass the data module.",
    "tags": ["data", "data", "literacy"],
    "alignments": [
        {"target_name": "Data analysis", "target_url": "https://esco.example.eu/skill/1"}
    ],
    "validity_days": 365,
}


def test_create_read_list(api_a: Api, tenant_a: Tenant) -> None:
    created = api_a.post("/api/v1/achievements", json=DEFINITION)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["tags"] == ["data", "literacy"]
    assert body["alignments"][0]["target_name"] == "Data analysis"
    assert body["archived"] is False
    got = api_a.get(f"/api/v1/achievements/{body['id']}")
    assert got.get_json() == body
    assert got.headers["ETag"] == created.headers["ETag"]
    names = [a["name"] for a in api_a.get("/api/v1/achievements").get_json()]
    assert names == ["Skill of tenant 1", "Data literacy"]


def test_invalid_definitions_are_refused_with_field_messages(api_a: Api) -> None:
    no_criteria = api_a.post("/api/v1/achievements", json={"name": "X", "description": "Y"})
    assert no_criteria.status_code == 422
    assert "criteria_narrative" in no_criteria.get_json()["errors"]
    bad_type = api_a.post("/api/v1/achievements", json={**DEFINITION, "achievement_type": "Trophy"})
    assert bad_type.status_code == 422
    assert "achievement_type" in bad_type.get_json()["errors"]
    half_result = api_a.patch(
        "/api/v1/achievements/1", json={"result_description": {"name": "Score"}}
    )
    assert half_result.status_code == 422
    assert "result_description" in half_result.get_json()["errors"]


def test_patch_with_if_match_and_stale_etag(api_a: Api) -> None:
    created = api_a.post("/api/v1/achievements", json=DEFINITION)
    item_id = created.get_json()["id"]
    etag = created.headers["ETag"]
    changed = api_a.patch(
        f"/api/v1/achievements/{item_id}",
        json={"name": "Data literacy II"},
        headers={"If-Match": etag},
    )
    assert changed.status_code == 200
    assert changed.get_json()["name"] == "Data literacy II"
    assert changed.headers["ETag"] != etag
    stale = api_a.patch(
        f"/api/v1/achievements/{item_id}", json={"name": "Lost update"}, headers={"If-Match": etag}
    )
    assert stale.status_code == 412
    assert stale.mimetype == "application/problem+json"
    assert api_a.get(f"/api/v1/achievements/{item_id}").get_json()["name"] == "Data literacy II"


def test_if_none_match_gives_304(api_a: Api) -> None:
    created = api_a.post("/api/v1/achievements", json=DEFINITION)
    path = f"/api/v1/achievements/{created.get_json()['id']}"
    etag = api_a.get(path).headers["ETag"]
    cached = api_a.get(path, headers={"If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.data == b""
    assert api_a.get(path, headers={"If-None-Match": '"other"'}).status_code == 200


def test_archive_stops_new_awards(api_a: Api, tenant_a: Tenant) -> None:
    path = f"/api/v1/achievements/{tenant_a.achievement_id}"
    archived = api_a.post(f"{path}/archive", json={"reason": "Retired"})
    assert archived.status_code == 200
    assert archived.get_json()["archived"] is True
    assert api_a.post(f"{path}/archive", json={}).status_code == 409
    refused = api_a.post("/api/v1/awards", json=award_body(tenant_a))
    assert refused.status_code == 409
    assert refused.get_json()["type"].endswith("archived")
    assert api_a.get("/api/v1/achievements").get_json() == []
    listed = api_a.get("/api/v1/achievements?include_archived=true").get_json()
    assert [a["id"] for a in listed] == [tenant_a.achievement_id]
    assert api_a.patch(path, json={"name": "New"}).status_code == 409
