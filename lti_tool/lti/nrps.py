"""Course rosters through LTI Names and Role Provisioning Services 2.0, every page.

pylti1p3's NamesRolesProvisioningService follows `Link: rel="next"`; the token comes from
the shared cache, so paging a 5,000-member roster asks the platform for one token.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pylti1p3.names_roles import NamesRolesProvisioningService

from ..keys import SigningKey
from .service_tokens import CachedServiceConnector, ServiceTokenCache
from .tool_config import PlatformRegistration


@dataclass(frozen=True)
class RosterMember:
    sub: str
    name: str
    given_name: str
    family_name: str
    email: str | None
    roles: tuple[str, ...]
    status: str
    extra: Mapping[str, Any] = field(default_factory=dict)


def roster(
    registration: PlatformRegistration,
    tokens: ServiceTokenCache,
    signing_key: SigningKey,
    memberships_url: str,
) -> Iterator[RosterMember]:
    """Every member of the course, page by page (never relying on `differences`)."""
    connector = CachedServiceConnector(
        registration, tokens, signing_key.kid, signing_key.private_pem
    )
    service = NamesRolesProvisioningService(connector, {"context_memberships_url": memberships_url})
    url: str | None = memberships_url
    while url:
        members, url = service.get_members_page(url)
        for member in members:
            sub = member.get("user_id")
            if not isinstance(sub, str) or not sub:
                continue
            yield RosterMember(
                sub=sub,
                name=str(member.get("name") or ""),
                given_name=str(member.get("given_name") or ""),
                family_name=str(member.get("family_name") or ""),
                email=member.get("email") or None,
                roles=tuple(r for r in member.get("roles", []) if isinstance(r, str)),
                status=str(member.get("status") or "Active"),
                extra={k: v for k, v in member.items() if k == "lis_person_sourcedid"},
            )
