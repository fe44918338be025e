"""Small helpers every instructor view uses: redirects that keep the session, the acting
user, optional form values and marshmallow messages as plain strings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import redirect
from marshmallow import ValidationError
from werkzeug.wrappers import Response as WerkzeugResponse

from ...credentials.audit import ActorRef
from ..scope import Scope, u


def redirect_to(endpoint: str, **values: Any) -> WerkzeugResponse:
    """303 to a page of the tool, keeping the session token."""
    return redirect(u(endpoint, **values), code=303)


def actor(current: Scope) -> ActorRef:
    return ActorRef(f"user:{current.user_id}", current.user_id)


def opt(form: Mapping[str, str], name: str) -> str | None:
    value = (form.get(name) or "").strip()
    return value or None


def strings(messages: Any) -> list[str]:
    """Every message of a (nested) marshmallow error structure, flattened."""
    if isinstance(messages, str):
        return [messages]
    if isinstance(messages, Mapping):
        return [m for value in messages.values() for m in strings(value)]
    if isinstance(messages, list | tuple):
        return [m for value in messages for m in strings(value)]
    return [str(messages)]


def messages_of(exc: ValidationError) -> Mapping[str, Any]:
    messages = exc.messages
    return messages if isinstance(messages, Mapping) else {"_form": messages}
