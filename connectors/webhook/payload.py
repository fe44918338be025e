"""The JSON body of a webhook: what happened, to which award, and its full current state.

Receivers should upsert by ``data.award_id`` and ignore events whose ``data.sequence`` is
lower than one they already applied (delivery order is not guaranteed).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from connectors.base import Achievement, AwardEvent, Learner, Score, iso


def _achievement(achievement: Achievement) -> dict[str, Any]:
    return {
        "id": achievement.id,
        "name": achievement.name,
        "description": achievement.description,
        "criteria": {"id": achievement.criteria_url, "narrative": achievement.criteria_narrative},
        "image": achievement.image_url,
        "tags": list(achievement.tags),
        "alignments": [
            {
                "target_name": alignment.target_name,
                "target_url": alignment.target_url,
                "target_description": alignment.target_description,
                "target_framework": alignment.target_framework,
                "target_code": alignment.target_code,
                "target_type": alignment.target_type,
            }
            for alignment in achievement.alignments
        ],
    }


def _learner(learner: Learner, *, share_email: bool) -> dict[str, Any]:
    identifiers: dict[str, Any] = {
        "platform_issuer": learner.platform_issuer,
        "sub": learner.sub,
        "hr_ids": dict(learner.hr_ids),
    }
    if share_email and learner.email:
        identifiers["email"] = learner.email
    return identifiers


def _score(score: Score | None) -> dict[str, Any] | None:
    if score is None:
        return None
    return {
        "raw": score.raw,
        "min": score.min,
        "max": score.max,
        "scaled": score.scaled,
        "passed": score.passed,
    }


def event_payload(
    event: AwardEvent, *, include_credential: bool, share_email: bool
) -> dict[str, Any]:
    return {
        "type": str(event.type),
        "timestamp": iso(event.occurred_at),
        "data": {
            "event_id": event.event_id,
            "award_id": event.award_id,
            "sequence": event.sequence,
            "status": str(event.status),
            "issued_at": iso(event.issued_at),
            "expires_at": iso(event.expires_at),
            "achievement": _achievement(event.achievement),
            "learner": _learner(event.learner, share_email=share_email),
            "result": _score(event.score),
            "verification_url": event.verification_url,
            "credential": event.credential if include_credential else None,
        },
    }


def ping_payload(now: datetime) -> dict[str, Any]:
    return {"type": "microcred.ping", "timestamp": iso(now), "data": {}}


def _plain(value: object) -> object:
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def encode(payload: Mapping[str, Any]) -> str:
    """Compact, key-sorted JSON: the exact text that is signed and sent (as UTF-8)."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, default=_plain)
