"""OB 3.0 API scopes (spec §6.1) and the ones this deployment grants."""

from __future__ import annotations

from typing import Final

PREFIX: Final = "https://purl.imsglobal.org/spec/ob/v3p0/scope/"
CREDENTIAL_READONLY: Final = PREFIX + "credential.readonly"
CREDENTIAL_UPSERT: Final = PREFIX + "credential.upsert"
PROFILE_READONLY: Final = PREFIX + "profile.readonly"

#: What each scope lets a client do, as the consent page and the discovery document say it.
DESCRIPTIONS: Final = {
    CREDENTIAL_READONLY: "Permission to read your credentials",
    CREDENTIAL_UPSERT: "Permission to create or update your credentials",
    PROFILE_READONLY: "Permission to read your profile (name and email address)",
}


def supported(*, upsert: bool) -> tuple[str, ...]:
    """Scopes granted here: credential.upsert only when the operator enabled it."""
    base = (CREDENTIAL_READONLY, PROFILE_READONLY)
    return (*base, CREDENTIAL_UPSERT) if upsert else base
