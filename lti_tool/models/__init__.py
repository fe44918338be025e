"""SQLAlchemy models, one module per aggregate. Importing this package registers them all."""

from .achievements import Achievement, AchievementAlignment, AchievementImage, IssuerProfile
from .audit import AuditEvent
from .awards import Award
from .base import Base, utcnow
from .issued import IssuedCredential as IssuedCredential
from .issued import IssuerKey as IssuerKey
from .issued import StatusList as StatusList
from .issued import StatusListAllocation as StatusListAllocation
from .keys import ToolKey
from .lti_state import LaunchData, LoginState
from .pathways import Pathway, PathwayNode
from .people import Context, Enrollment, ResourceLink, User
from .platforms import Deployment, Platform, PlatformKeySet
from .sessions import ToolSession
from .sync import Connection, Delivery, DeliveryAttempt, IdentityMapping

__all__ = [
    "Achievement",
    "AchievementAlignment",
    "AchievementImage",
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
    "ToolKey",
    "ToolSession",
    "User",
    "utcnow",
]
