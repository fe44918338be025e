"""Connectors: deliver award events to webhooks, LRSs and HR systems.

The contract lives in :mod:`connectors.base`, discovery in :mod:`connectors.registry`, the
shared HTTP outcome rules in :mod:`connectors.http`, and the contract test every connector's
tests inherit in :mod:`connectors.testing`. Nothing here imports the Flask app or the DB.
"""

from connectors.base import (
    PUSHED_EVENTS,
    WITHDRAWING_EVENTS,
    Achievement,
    Alignment,
    AwardEvent,
    AwardStatus,
    Connector,
    EventType,
    Learner,
    Outcome,
    Result,
    Score,
    deliver,
)
from connectors.settings import SettingsError, redact, secret_fields

__all__ = [
    "PUSHED_EVENTS",
    "WITHDRAWING_EVENTS",
    "Achievement",
    "Alignment",
    "AwardEvent",
    "AwardStatus",
    "Connector",
    "EventType",
    "Learner",
    "Outcome",
    "Result",
    "Score",
    "SettingsError",
    "deliver",
    "redact",
    "secret_fields",
]
