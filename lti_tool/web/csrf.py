"""CSRF protection for in-LMS forms.

Pages carry the tool-session token in the URL (no cookies), so a cross-site page that learns
nothing else cannot forge a form post unless it also knows this per-session token: an HMAC of
the session token with the app secret, sent as the `csrf` form field of every POST.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import abort, current_app, request

FIELD = "csrf"


def csrf_token(session_token: str) -> str:
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(secret, b"microcred-csrf:" + session_token.encode(), hashlib.sha256).hexdigest()


def check_csrf(session_token: str) -> None:
    """400 unless a POST carries the CSRF token of its session."""
    if request.method != "POST":
        return
    given = request.form.get(FIELD, "")
    if not given or not hmac.compare_digest(given, csrf_token(session_token)):
        abort(400, description="The form expired or did not come from this tool. Reload it.")
