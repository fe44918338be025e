"""Wire the OB 3.0 API (Authlib server, blueprints) and the CLR issuer into an app."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from flask import Flask

from lti_tool.credentials import clr as clr_service
from lti_tool.credentials.issuance import CredentialIssuer
from lti_tool.openbadges.clr import ClrContextError
from lti_tool.settings import Settings, SettingsError

from . import learner, server, views

log = logging.getLogger(__name__)
CLR_EXTENSION_KEY = "microcred.clr"


def install(app: Flask, settings: Settings) -> server.ObApiServer:
    found = server.install(app, settings)
    app.register_blueprint(views.bp)
    app.register_blueprint(learner.bp)
    return found


def install_clr(app: Flask, settings: Settings) -> clr_service.ClrIssuer:
    """The CLR issuer of this app; an award listener only when a CLR context is configured."""
    issuer: CredentialIssuer = app.extensions["microcred.issuer"]
    document = None
    if settings.clr_context_file:
        path = Path(settings.clr_context_file)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SettingsError(f"MICROCRED_CLR_CONTEXT_FILE: cannot read {path}: {exc}") from exc
    try:
        clr_issuer = clr_service.ClrIssuer(issuer, document, context_url=settings.clr_context_url)
    except ClrContextError as exc:
        raise SettingsError(f"MICROCRED_CLR_CONTEXT_FILE: {exc}") from exc
    app.extensions[CLR_EXTENSION_KEY] = clr_service.install(clr_issuer)
    if not clr_issuer.available:
        log.info("CLR 2.0 disabled: no CLR context file configured (MICROCRED_CLR_CONTEXT_FILE)")
    return clr_issuer
