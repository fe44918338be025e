"""SQLAlchemy models, one module per aggregate. Importing this package registers them all."""

from .achievements import Achievement, AchievementAlignment, AchievementImage, IssuerProfile
from .api_clients import ApiClient as ApiClient
from .api_clients import ApiToken as ApiToken
from .api_clients import IdempotencyRecord as IdempotencyRecord
from .audit import AuditEvent
from .awards import Award
from .base import Base, utcnow
from .clr import IssuedClr as IssuedClr
from .installation import Installation as Installation
from .issued import IssuedCredential as IssuedCredential
from .issued import IssuerKey as IssuerKey
from .issued import StatusList as StatusList
from .issued import StatusListAllocation as StatusListAllocation
from .keys import ToolKey
from .linkedin import LinkedInAccount as LinkedInAccount
from .linkedin import LinkedInAuthState as LinkedInAuthState
from .linkedin import LinkedInTenant as LinkedInTenant
from .linkedin import LinkedInUse as LinkedInUse
from .lti_state import LaunchData, LoginState
from .obapi import ObApiAuthorizationCode as ObApiAuthorizationCode
from .obapi import ObApiClient as ObApiClient
from .obapi import ObApiSignIn as ObApiSignIn
from .obapi import ObApiToken as ObApiToken
from .obapi import ObApiUpload as ObApiUpload
from .pathways import Pathway, PathwayNode
from .people import Context, Enrollment, ResourceLink, User
from .platforms import Deployment, Platform, PlatformKeySet
from .rules import AchievementPlacement, AchievementRule, ScorePostback
from .sessions import ToolSession
from .sync import Connection, Delivery, DeliveryAttempt, IdentityMapping

__all__ = [
    "Achievement",
    "AchievementAlignment",
    "AchievementImage",
    "AchievementPlacement",
    "AchievementRule",
    "AuditEvent",
    "Award",
    "Base",
    "Connection",
    "Context",
    "Delivery",
    "DeliveryAttempt",
    "Deployment",
    "Enrollment",
    "IdentityMapping",
    "IssuerProfile",
    "LaunchData",
    "LoginState",
    "Pathway",
    "PathwayNode",
    "Platform",
    "PlatformKeySet",
    "ResourceLink",
    "ScorePostback",
    "ToolKey",
    "ToolSession",
    "User",
    "utcnow",
]
