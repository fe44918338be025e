"""SQLAlchemy models, one module per aggregate. Importing this package registers them all."""

from .achievements import Achievement, AchievementAlignment, AchievementImage, IssuerProfile
from .audit import AuditEvent
from .awards import Award
from .base import Base, utcnow
from .keys import ToolKey
from .lti_state import LaunchData, LoginState
from .pathways import Pathway, PathwayNode
from .people import Context, Enrollment, ResourceLink, User
from .platforms import Deployment, Platform, PlatformKeySet
from .sessions import ToolSession

__all__ = [
    "Achievement",
    "AchievementAlignment",
    "AchievementImage",
    "AuditEvent",
    "Award",
    "Base",
    "Context",
    "Deployment",
    "Enrollment",
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
