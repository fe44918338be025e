"""Map LTI role URIs to the three roles our pages know."""

from __future__ import annotations

from collections.abc import Iterable

LEARNER = "learner"
INSTRUCTOR = "instructor"
ADMINISTRATOR = "administrator"

_LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
_ADMIN_ROLES = {
    _LIS + "system/person#Administrator",
    _LIS + "system/person#SysAdmin",
    _LIS + "institution/person#Administrator",
}
_INSTRUCTOR_ROLES = {
    _LIS + "membership#Instructor",
    _LIS + "membership#ContentDeveloper",
    _LIS + "membership#Administrator",
    _LIS + "membership/Instructor#TeachingAssistant",
    # Short forms the LTI 1.3 core spec allows for context roles.
    "Instructor",
    "ContentDeveloper",
    "TeachingAssistant",
}


def primary_role(roles: Iterable[str]) -> str:
    role_set = set(roles)
    if role_set & _ADMIN_ROLES:
        return ADMINISTRATOR
    if role_set & _INSTRUCTOR_ROLES or any(
        r.startswith(_LIS + "membership/Instructor#") for r in role_set
    ):
        return INSTRUCTOR
    return LEARNER
