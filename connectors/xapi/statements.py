"""Build xAPI 1.0.3 statements for award events. Pure functions, no I/O.

Choices (see docs/connectors/xapi.md):

* verb ``http://activitystrea.ms/schema/1.0/receive`` ("received"): the learner received a
  credential. ADL ``completed`` would claim they finished an activity, which the LMS already
  reports, and the Open Badges xAPI recipe's ``earned`` verb was a draft on IRIs that no
  longer resolve;
* object: an Activity whose id is the achievement URL, typed as an Activity Streams badge;
* actor: an Agent identified by its LMS account (``homePage`` = LTI issuer, ``name`` = LTI
  ``sub``), or by ``mbox`` when the connection shares email (an Agent may carry only one
  identifier);
* ids: UUIDv5 of the event's idempotency key, so a retried PUT repeats the same statement;
* the verification URL sits in ``context.extensions`` under the OB 3.0 vocabulary IRI of
  ``AchievementCredential``.
"""

from __future__ import annotations

import uuid
from typing import Any

from connectors.base import AwardEvent, Score, iso

#: Namespace of every statement id Microcred derives. Never change it: ids must be stable.
STATEMENT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:microcred:xapi:statement")
AWARD_VERB = {
    "id": "http://activitystrea.ms/schema/1.0/receive",
    "display": {"en-US": "received"},
}
VOIDED_VERB = {"id": "http://adlnet.gov/expapi/verbs/voided", "display": {"en-US": "voided"}}
BADGE_ACTIVITY_TYPE = "http://activitystrea.ms/schema/1.0/badge"
CREDENTIAL_EXTENSION = "https://purl.imsglobal.org/spec/vc/ob/vocab.html#AchievementCredential"
PLATFORM = "Microcred"


def statement_id(idempotency_key: str, purpose: str = "") -> str:
    """The statement id for an event (``purpose`` tells apart extra statements of one event)."""
    name = f"{idempotency_key}#{purpose}" if purpose else idempotency_key
    return str(uuid.uuid5(STATEMENT_NAMESPACE, name))


def actor(event: AwardEvent, *, share_email: bool) -> dict[str, Any]:
    learner = event.learner
    if share_email and learner.email:
        return {"objectType": "Agent", "mbox": f"mailto:{learner.email}"}
    return {
        "objectType": "Agent",
        "account": {"homePage": learner.platform_issuer, "name": learner.sub},
    }


def _result(score: Score | None) -> dict[str, Any]:
    result: dict[str, Any] = {"completion": True}
    if score is None:
        return result
    if score.passed is not None:
        result["success"] = score.passed
    values = {"scaled": score.scaled, "raw": score.raw, "min": score.min, "max": score.max}
    if any(value is not None for value in values.values()):
        result["score"] = {name: value for name, value in values.items() if value is not None}
    return result


def award_statement(
    event: AwardEvent, *, share_email: bool, language: str, purpose: str = ""
) -> dict[str, Any]:
    """The "learner received achievement" statement for an award event."""
    achievement = event.achievement
    definition: dict[str, Any] = {
        "type": BADGE_ACTIVITY_TYPE,
        "name": {language: achievement.name},
    }
    if achievement.description:
        definition["description"] = {language: achievement.description}
    if achievement.criteria_url:
        definition["moreInfo"] = achievement.criteria_url
    return {
        "id": statement_id(event.idempotency_key, purpose),
        "actor": actor(event, share_email=share_email),
        "verb": AWARD_VERB,
        "object": {"objectType": "Activity", "id": achievement.id, "definition": definition},
        "result": _result(event.score),
        "context": {
            "platform": PLATFORM,
            "extensions": {CREDENTIAL_EXTENSION: event.verification_url},
        },
        "timestamp": iso(event.issued_at),
    }


def voiding_statement(
    event: AwardEvent, target_id: str, *, share_email: bool, purpose: str = ""
) -> dict[str, Any]:
    """A statement voiding ``target_id`` (xAPI 1.0.3 §2.3.2), made by the learner's agent."""
    return {
        "id": statement_id(event.idempotency_key, purpose),
        "actor": actor(event, share_email=share_email),
        "verb": VOIDED_VERB,
        "object": {"objectType": "StatementRef", "id": target_id},
        "timestamp": iso(event.occurred_at),
    }
