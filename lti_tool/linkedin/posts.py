"""Share a credential as a LinkedIn post through the Posts API (``w_member_social``).

``POST /rest/posts`` with ``Authorization: Bearer``, ``LinkedIn-Version: YYYYMM`` and
``X-Restli-Protocol-Version: 2.0.0``; LinkedIn answers 201 and the post's URN in the
``x-restli-id`` header. A post is not a certification: it links to the public verification
page, which always shows the credential's live status.
"""

from __future__ import annotations

import re
from typing import Any

import requests

from .oauth import LinkedInConfig, LinkedInError, TokenRefused

COMMENTARY_LIMIT = 3000
# LinkedIn's "little text format": these characters must be backslash-escaped in commentary.
_RESERVED = re.compile(r"([\\|{}@\[\]()<>#*_~])")


def escape_commentary(text: str) -> str:
    return _RESERVED.sub(r"\\\1", text)


def post_body(
    *, member_sub: str, commentary: str, link: str, title: str, description: str
) -> dict[str, Any]:
    return {
        "author": f"urn:li:person:{member_sub}",
        "commentary": escape_commentary(commentary),
        "visibility": "PUBLIC",
        "distribution": {
            "feedDistribution": "MAIN_FEED",
            "targetEntities": [],
            "thirdPartyDistributionChannels": [],
        },
        "content": {"article": {"source": link, "title": title, "description": description}},
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": False,
    }


def share(
    http: requests.Session,
    config: LinkedInConfig,
    access_token: str,
    body: dict[str, Any],
) -> str:
    """Publish ``body``; returns the post URN. Raises :class:`TokenRefused` on 401."""
    headers = {
        "Authorization": f"Bearer {access_token}",
        "LinkedIn-Version": config.version,
        "X-Restli-Protocol-Version": "2.0.0",
        "Content-Type": "application/json",
    }
    try:
        response = http.post(
            config.posts_endpoint,
            json=body,
            headers=headers,
            timeout=config.timeout,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        raise LinkedInError(
            f"LinkedIn could not be reached; nothing was posted ({type(exc).__name__})."
        ) from None
    if response.status_code == 401:
        raise TokenRefused("LinkedIn no longer accepts your sign-in; nothing was posted.")
    if response.status_code == 429:
        raise LinkedInError("LinkedIn is limiting posts right now; nothing was posted. Try later.")
    if response.status_code != 201:
        raise LinkedInError(
            f"LinkedIn refused the post (HTTP {response.status_code}); nothing was posted."
        )
    urn = response.headers.get("x-restli-id", "")
    if not urn:
        raise LinkedInError("LinkedIn accepted the post but returned no id.")
    return urn
