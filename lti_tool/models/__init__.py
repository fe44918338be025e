"""SQLAlchemy models, one module per aggregate. Importing this package registers them all."""

from .base import Base, utcnow
from .keys import ToolKey
from .lti_state import LaunchData, LoginState
from .people import Context, Enrollment, ResourceLink, User
from .platforms import Deployment, Platform, PlatformKeySet
from .sessions import ToolSession

__all__ = [
    "Base",
    "Context",
    "Deployment",
    "Enrollment",
    "LaunchData",
    "LoginState",
    "Platform",
    "PlatformKeySet",
    "ResourceLink",
    "ToolKey",
    "ToolSession",
    "User",
    "utcnow",
]
