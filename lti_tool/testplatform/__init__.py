"""A real, minimal LTI 1.3 platform for tests, benchmarks and the demo."""

from .platform import ROLE_ADMIN, ROLE_INSTRUCTOR, ROLE_LEARNER, SigningKey, TestPlatform

__all__ = ["ROLE_ADMIN", "ROLE_INSTRUCTOR", "ROLE_LEARNER", "SigningKey", "TestPlatform"]
