"""pylti1p3's Flask cookie service with `Partitioned` (CHIPS) cookies.

pylti1p3 2.0.0 sets `SameSite=None; Secure` only when the request itself looks like HTTPS
and never sets `Partitioned`, so browsers that block third-party cookies drop the state
cookie inside the LMS iframe. Here security follows the configured public URL as well as
the request (behind a TLS-terminating proxy, see `proxy_fix_hops`).
"""

from __future__ import annotations

from typing import Any

from pylti1p3.contrib.flask import FlaskCookieService


class PartitionedCookieService(FlaskCookieService):
    def __init__(self, request: Any, *, secure: bool) -> None:
        super().__init__(request)
        self._secure = secure or bool(request.is_secure())

    def update_response(self, response: Any) -> None:
        for key, data in self._cookie_data_to_set.items():
            if self._secure:
                response.set_cookie(
                    key,
                    data["value"],
                    max_age=data["exp"],
                    path="/",
                    httponly=True,
                    secure=True,
                    samesite="None",
                    partitioned=True,
                )
            else:
                # Plain HTTP (local development): browsers refuse SameSite=None without Secure.
                response.set_cookie(
                    key,
                    data["value"],
                    max_age=data["exp"],
                    path="/",
                    httponly=True,
                    samesite="Lax",
                )
