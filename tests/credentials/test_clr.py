"""CLR 2.0 on pathway completion: which credentials a completed (nested) pathway bundles and
how they associate, and what happens without the CLR 2.0 context (not available to this
project): no CLR is issued, the issuer says why, a bad context file stops start-up."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from lti_tool.app import create_app
from lti_tool.credentials import awards as svc
from lti_tool.credentials import clr as clr_service
from lti_tool.credentials.awards import award_listeners
from lti_tool.credentials.issuance import CredentialIssuer, credential_of_award
from lti_tool.credentials.pathways import define_pathway
from lti_tool.db import Database
from lti_tool.models import Achievement, IssuedClr, Pathway, User
from lti_tool.openbadges import clr as CLR
from lti_tool.settings import Settings, SettingsError

from .conftest import ADMIN, make_achievement, make_platform, make_user


def _ach(a: Achievement) -> dict[str, Any]:
    return {"kind": "achievement", "achievement_id": a.id}


def _all_of(*children: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "all_of", "children": list(children)}


def _complete_nested(database: Database) -> tuple[int, int, int]:
    """Sub-pathway S = all of (A, B); pathway P = all of (S, C) plus an unearned option
    any of (D). The learner earns A, B, C: S and then P complete. (P id, S id, user id)"""
    with database.session() as s:
        platform = make_platform(s)
        learner = make_user(s, platform, "learner-1", email="ada@example.edu")
        a, b, c, d = (make_achievement(s, platform, n) for n in "ABCD")
        inner = define_pathway(
            s, platform, {"name": "S", "requirements": _all_of(_ach(a), _ach(b))}, actor=ADMIN
        )
        outer = define_pathway(
            s,
            platform,
            {
                "name": "P",
                "requirements": _all_of(
                    {"kind": "pathway", "pathway_id": inner.id},
                    _ach(c),
                    {"kind": "any_of", "children": [_ach(c), _ach(d)]},
                ),
            },
            actor=ADMIN,
        )
        for achievement in (a, b, c):
            svc.award(s, achievement, learner, source="manual", actor=ADMIN)
        return outer.id, inner.id, learner.id


def _issuer(app: Flask) -> CredentialIssuer:
    found: CredentialIssuer = app.extensions["microcred.issuer"]
    return found


def test_completed_pathway_components_and_associations(app: Flask, database: Database) -> None:
    outer_id, inner_id, user_id = _complete_nested(database)
    clr_issuer = clr_service.ClrIssuer(_issuer(app), None)
    with database.session() as s:
        outer = s.get_one(Pathway, outer_id)
        inner = s.get_one(Pathway, inner_id)
        learner = s.get_one(User, user_id)
        root = f"https://tool.test/achievements/{outer.achievement_id}"
        parts = clr_issuer.components(s, outer, learner, root)
        names = [(CLR.achievement_of(p.credential)["name"], p.parent_achievement_id) for p in parts]
        inner_url = f"https://tool.test/achievements/{inner.achievement_id}"
        assert names == [("S", root), ("A", inner_url), ("B", inner_url), ("C", root)]
        for part in parts:  # the stored, signed credentials themselves
            assert part.credential["proof"][0]["cryptosuite"] == "eddsa-rdfc-2022"
        associations = {
            (a.association_type, a.source_id.rsplit("/", 1)[1], a.target_id.rsplit("/", 1)[1])
            for a in CLR.stack_associations(parts)
        }
        ids = {
            name: str(aid)
            for name, aid in s.execute(select(Achievement.name, Achievement.id)).all()
        }
        assert ("isChildOf", ids["A"], ids["S"]) in associations
        assert ("isParentOf", ids["S"], ids["B"]) in associations
        assert ("isChildOf", ids["S"], ids["P"]) in associations
        assert ("isChildOf", ids["C"], ids["P"]) in associations
        assert not any(ids["D"] in (src, dst) for _, src, dst in associations)  # not earned
        assert len(associations) == 8  # C is named twice in the tree, bundled once


def test_no_clr_without_the_clr_context(app: Flask, database: Database) -> None:
    clr_issuer: clr_service.ClrIssuer = app.extensions["microcred.clr"]
    assert not clr_issuer.available
    assert clr_issuer not in award_listeners
    outer_id, _, user_id = _complete_nested(database)
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(IssuedClr)) == 0
        outer = s.get_one(Pathway, outer_id)
        pathway_award = svc.find_award(s, outer.achievement, s.get_one(User, user_id))
        assert pathway_award is not None and pathway_award.source == "pathway"
        assert credential_of_award(s, pathway_award.id) is not None  # its OB credential
        with pytest.raises(clr_service.ClrUnavailable, match="MICROCRED_CLR_CONTEXT_FILE"):
            clr_issuer.issue_for_award(s, pathway_award)


def test_unreadable_clr_context_file_stops_start_up(
    settings: Settings, database: Database, tmp_path: Path
) -> None:
    missing = dataclasses.replace(settings, clr_context_file=str(tmp_path / "nope.json"))
    with pytest.raises(SettingsError, match="MICROCRED_CLR_CONTEXT_FILE"):
        create_app(missing, database=database)
    not_context = tmp_path / "clr.json"
    not_context.write_text(json.dumps({"title": "not a JSON-LD context"}))
    wrong = dataclasses.replace(settings, clr_context_file=str(not_context))
    with pytest.raises(SettingsError, match="no @context"):
        create_app(wrong, database=database)
