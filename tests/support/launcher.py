"""Drive login -> platform authorization -> launch through the Flask test client."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from lti_tool.testplatform import TestPlatform

Claims = dict[str, Any]


@dataclass
class Authorized:
    """A login that the platform answered: what the browser would POST to /lti/launch."""

    id_token: str
    state: str
    nonce: str
    login_response: TestResponse


@dataclass
class Launcher:
    client: FlaskClient
    platform: TestPlatform

    def login(self, sub: str = "learner-1", method: str = "GET", **extra: str) -> TestResponse:
        params = self.platform.login_params(sub, **extra)
        if method == "GET":
            return self.client.get("/lti/login", query_string=params, base_url=_base(self))
        return self.client.post("/lti/login", data=params, base_url=_base(self))

    def authorize(
        self,
        sub: str = "learner-1",
        *,
        mutate: Callable[[Claims], Claims | None] | None = None,
        sign: Callable[[Claims], str] | None = None,
        **login_extra: str,
    ) -> Authorized:
        response = self.login(sub, **login_extra)
        assert response.status_code == 302, response.get_data(as_text=True)
        query = {k: v[0] for k, v in parse_qs(urlsplit(response.location).query).items()}
        claims = self.platform.claims_for(sub, query["nonce"])
        if mutate is not None:
            claims = mutate(claims) or claims
        id_token = sign(claims) if sign else self.platform.sign(claims)
        return Authorized(id_token, query["state"], query["nonce"], response)

    def post_launch(self, id_token: str, state: str, **extra: str) -> TestResponse:
        return self.client.post(
            "/lti/launch",
            data={"id_token": id_token, "state": state, **extra},
            base_url=_base(self),
        )

    def launch(self, sub: str = "learner-1", **kwargs: Any) -> TestResponse:
        auth = self.authorize(sub, **kwargs)
        return self.post_launch(auth.id_token, auth.state)

    def land(self, sub: str = "learner-1") -> TestResponse:
        """A full successful launch: the launch answers with the landing page itself."""
        response = self.launch(sub)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response

    def page_url(self, response: TestResponse) -> str:
        """The GET address a launch-rendered page moves to (history.replaceState)."""
        match = re.search(r'id="page-url" data-url="([^"]+)"', response.get_data(as_text=True))
        assert match, "the launch page has no page-url"
        return match.group(1).replace("&amp;", "&")


def _base(launcher: Launcher) -> str:
    return launcher.platform.tool_url
