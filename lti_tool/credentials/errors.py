"""Domain errors: each message says what is wrong in words an admin can act on.

Input that fails a schema raises `marshmallow.ValidationError` (field -> messages) instead.
"""

from __future__ import annotations


class CredentialError(Exception):
    """Base class of credential-domain refusals."""


class TenantMismatch(CredentialError):
    """Two objects of different tenants (platforms) were combined."""


class AchievementArchived(CredentialError):
    """The achievement is archived: it can no longer be awarded or edited."""


class AwardNotFound(CredentialError):
    """No such award in this tenant."""


class InvalidTransition(CredentialError):
    """The award's status does not allow this change (e.g. revoking a revoked award)."""


class EvidenceRequired(CredentialError):
    """The achievement requires evidence and none was given."""


class InvalidResult(CredentialError):
    """The result does not fit the achievement's result description."""


class LearnerAmbiguous(CredentialError):
    """More than one learner of the tenant matches (e.g. a shared email address)."""


class PathwayInvalid(CredentialError):
    """A pathway's requirement tree refers to something it must not."""


class PathwayCycle(PathwayInvalid):
    """A pathway would require itself, directly or through sub-pathways."""
