"""The credential domain: achievements, awards, pathways, learners and their audit trail.

Framework-free: nothing here imports Flask. Services take a SQLAlchemy `Session`, flush and
never commit; the request, command or worker boundary commits once.
"""

from .errors import (
    AchievementArchived,
    AwardNotFound,
    CredentialError,
    EvidenceRequired,
    InvalidResult,
    InvalidTransition,
    LearnerAmbiguous,
    PathwayCycle,
    PathwayInvalid,
    TenantMismatch,
)

__all__ = [
    "AchievementArchived",
    "AwardNotFound",
    "CredentialError",
    "EvidenceRequired",
    "InvalidResult",
    "InvalidTransition",
    "LearnerAmbiguous",
    "PathwayCycle",
    "PathwayInvalid",
    "TenantMismatch",
]
