"""Public Open Badges 3.0 pages: verification page, downloads, DID document, status lists,
and ``POST /verify``. No session needed; nothing here shows an email address."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlsplit

import requests
from flask import Blueprint, Flask, Response, abort, current_app, render_template, request
from sqlalchemy.orm import Session

from ..credentials import baking, issuance
from ..credentials.issuance import CredentialIssuer, IssuanceConfig, Verifier
from ..linkedin.links import add_to_profile_link
from ..models import AchievementImage, IssuedCredential
from ..models.issued import PURPOSES
from ..openbadges import dataintegrity as DI
from ..openbadges import remote, vcjwt
from ..openbadges.dataintegrity import parse_rfc3339
from ..openbadges.did_web import RemoteFetcher, RemotePolicy, parse_allowlist, url_netloc
from ..openbadges.keys import DID_HOST_NOT_ALLOWED, DID_RESOLUTION_FAILED, UNKNOWN_DID_METHOD
from ..openbadges.remote import RemoteMaterial
from ..openbadges.vcjwt import VcJwtError
from ..requestscope import db_read, services
from ..settings import verify_allowlist

bp = Blueprint("credentials", __name__)

JSON_LD: Final = "application/ld+json"
VERIFY_MAX_BYTES: Final = 256 * 1024
STATUS_MAX_AGE: Final = 60
EXTENSION_KEY: Final = "microcred.issuer"


def install_issuer(app: Flask) -> CredentialIssuer:
    """Create this app's credential issuer and install it as the award listener."""
    svc = app.extensions["microcred"]
    issuer = CredentialIssuer(
        IssuanceConfig(
            public_url=svc.settings.public_url,
            box=svc.secretbox,
            tool_name=svc.settings.tool_name,
        )
    )
    app.extensions[EXTENSION_KEY] = issuer
    return issuance.install(issuer)


def _issuer() -> CredentialIssuer:
    issuer: CredentialIssuer = current_app.extensions[EXTENSION_KEY]
    return issuer


def _json_response(data: Any, status: int = 200, mimetype: str = "application/json") -> Response:
    return Response(json.dumps(data, ensure_ascii=False), status=status, mimetype=mimetype)


# -- DID document -----------------------------------------------------------------------


def _did_response(session: Session) -> Response:
    document = _issuer().did_document(session)
    if document is None:
        abort(404)
    response = _json_response(document, mimetype="application/did+json")
    response.headers["Cache-Control"] = f"public, max-age={STATUS_MAX_AGE}"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/.well-known/did.json")
def did_json_root() -> Response:
    """did:web of a public URL without a path."""
    if urlsplit(services().settings.public_url).path.strip("/"):
        abort(404)
    return _did_response(db_read())


@bp.get("/did.json")
def did_json_path() -> Response:
    """did:web of a public URL with a path (``did:web:host:path`` -> ``/path/did.json``)."""
    if not urlsplit(services().settings.public_url).path.strip("/"):
        abort(404)
    return _did_response(db_read())


# -- status lists -----------------------------------------------------------------------


@bp.get("/status/<purpose>/<int:number>")
def status_list(purpose: str, number: int) -> Response:
    if purpose not in PURPOSES:
        abort(404)
    session = db_read()
    row = _issuer().status_list(session, purpose, number)
    if row is None:
        abort(404)
    signed = _issuer().status_lists.signed_credential(session, row)
    response = _json_response(signed, mimetype=JSON_LD)
    response.set_etag(f"{row.id}.{row.version}")
    response.headers["Cache-Control"] = f"public, max-age={STATUS_MAX_AGE}, must-revalidate"
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.make_conditional(request)
    return response


# -- badge images -----------------------------------------------------------------------


def _achievement_image(session: Session, achievement_id: int) -> AchievementImage | None:
    return session.get(AchievementImage, achievement_id)


@bp.get("/badge-images/<int:achievement_id>")
def badge_image(achievement_id: int) -> Response:
    image = _achievement_image(db_read(), achievement_id)
    if image is None:
        abort(404)
    response = Response(image.data, mimetype=image.media_type)
    response.set_etag(image.sha256)
    response.headers["Cache-Control"] = "public, max-age=3600"
    if image.media_type == "image/svg+xml":
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'"
        )
    response.make_conditional(request)
    return response


# -- credentials ------------------------------------------------------------------------


def _find(name: str) -> tuple[Session, IssuedCredential, str]:
    public_id, dot, extension = name.partition(".")
    if dot and extension not in ("json", "jwt", "png", "svg"):
        abort(404)
    session = db_read()
    issued = issuance.credential_by_public_id(session, public_id)
    if issued is None:
        abort(404)
    return session, issued, extension


def _download_name(issued: IssuedCredential, extension: str) -> str:
    return f"credential-{issued.public_id}.{extension}"


@bp.get("/credentials/<name>")
def credential(name: str) -> Response | str:
    session, issued, extension = _find(name)
    if extension == "json":
        return _credential_json(issued)
    if extension == "jwt":
        response = Response(issued.vc_jwt, mimetype="application/vc+jwt")
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response
    if extension in ("png", "svg"):
        return _baked(session, issued, extension)
    best = request.accept_mimetypes.best_match(["text/html", JSON_LD, "application/json"])
    if best in (JSON_LD, "application/json"):
        response = _credential_json(issued)
    else:
        response = Response(_page(session, issued))
    response.headers["Vary"] = "Accept"
    return response


def _credential_json(issued: IssuedCredential) -> Response:
    response = _json_response(issued.credential, mimetype=JSON_LD)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _baked(session: Session, issued: IssuedCredential, extension: str) -> Response:
    achievement = issued.award.achievement
    image = _achievement_image(session, achievement.id)
    png = image.data if image is not None and image.media_type == "image/png" else None
    mimetype = "image/png" if extension == "png" else "image/svg+xml"
    try:
        if extension == "png":
            data = baking.bake_png(issued.credential, png, achievement.name)
        else:
            svg = image.data if image is not None and image.media_type == "image/svg+xml" else None
            data = baking.bake_svg(issued.credential, svg, achievement.name, png)
    except baking.BakingError:  # a stored image we cannot re-encode: use the default badge
        if extension == "png":
            data = baking.bake_png(issued.credential, None, achievement.name)
        else:
            data = baking.bake_svg(issued.credential, None, achievement.name)
    response = Response(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = (
        f'inline; filename="{_download_name(issued, extension)}"'
    )
    if extension == "svg":
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'"
        )
    return response


def _date(value: Any) -> datetime | None:
    try:
        return parse_rfc3339(value) if value else None
    except (TypeError, ValueError):
        return None


STATUS_TEXT: Final = {
    issuance.VALID: "Valid",
    issuance.EXPIRED: "Expired",
    issuance.REVOKED: "Revoked",
    issuance.SUSPENDED: "Suspended",
}


def _page(session: Session, issued: IssuedCredential) -> str:
    doc = issued.credential
    subject = doc.get("credentialSubject", {})
    achievement: dict[str, Any] = subject.get("achievement", {})
    issuer: dict[str, Any] = doc.get("issuer", {}) if isinstance(doc.get("issuer"), dict) else {}
    status = issuance.live_status(issued)
    config = _issuer().config
    page_url = config.credential_url(issued.public_id)
    has_image = _achievement_image(session, issued.award.achievement_id) is not None
    image_url = (
        config.badge_image_url(issued.award.achievement_id) if has_image else page_url + ".png"
    )
    name = str(achievement.get("name") or doc.get("name") or "Credential")
    issuer_name = str(issuer.get("name") or "")
    return render_template(
        "credentials/show.html",
        title=name,
        doc=doc,
        achievement=achievement,
        criteria=achievement.get("criteria", {}),
        alignments=achievement.get("alignment", []),
        results=subject.get("result", []),
        issuer=issuer,
        issuer_name=issuer_name,
        learner_name=issued.learner_name,
        valid_from=_date(doc.get("validFrom")),
        valid_until=_date(doc.get("validUntil")),
        status=status,
        status_text=STATUS_TEXT.get(status, status),
        page_url=page_url,
        image_url=image_url,
        public_id=issued.public_id,
        linkedin_url=add_to_profile_link(
            session, issued, name=name, issuer_name=issuer_name, page_url=page_url
        ),
    )


# -- POST /verify -----------------------------------------------------------------------


def _problem(status: int, title: str, detail: str) -> Response:
    return _json_response(
        {"status": status, "title": title, "detail": detail},
        status=status,
        mimetype="application/problem+json",
    )


def _read_body() -> str | Response:
    if request.content_length is not None and request.content_length > VERIFY_MAX_BYTES:
        return _problem(413, "Too large", f"send at most {VERIFY_MAX_BYTES} bytes")
    raw = request.stream.read(VERIFY_MAX_BYTES + 1)
    if len(raw) > VERIFY_MAX_BYTES:
        return _problem(413, "Too large", f"send at most {VERIFY_MAX_BYTES} bytes")
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return _problem(
            415, "Unsupported media type", "POST the credential as JSON (application/ld+json)"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return _problem(400, "Not UTF-8", "the body must be UTF-8 JSON or a VC-JWT")


PROBLEM_TITLES: Final = {
    UNKNOWN_DID_METHOD: "Unknown DID method",
    DID_HOST_NOT_ALLOWED: "DID host not allowed",
    DID_RESOLUTION_FAILED: "DID resolution failed",
    DI.UNKNOWN_CONTEXT: "Unknown JSON-LD context",
    DI.BAD_SIGNATURE: "Bad signature",
    DI.ISSUER_NOT_CONTROLLER: "Issuer does not control the signing key",
    DI.INVALID_PROOF: "Invalid proof",
    DI.INVALID_DOCUMENT: "Invalid JSON-LD document",
    issuance.STATUS_UNAVAILABLE: "Status list unavailable",
}


def _verification_problem(kind: str, detail: str, checks: list[Any] | None = None) -> Response:
    """422 problem document with a stable ``type`` per kind, plus the report's checks."""
    body: dict[str, Any] = {
        "type": f"urn:microcred:problem:{kind}",
        "title": PROBLEM_TITLES.get(kind, "Verification failed"),
        "status": 422,
        "detail": detail,
        "verified": False,
    }
    if checks is not None:
        body["checks"] = checks
    return _json_response(body, status=422, mimetype="application/problem+json")


def _remote_policy() -> RemotePolicy:
    settings = services().settings
    return RemotePolicy(
        allowed_hosts=parse_allowlist(verify_allowlist(settings)),
        local_hosts=frozenset({url_netloc(settings.public_url)}),
        insecure_http=settings.allow_insecure_did_web_for_tests,
        timeout=settings.verify_http_timeout,
        max_bytes=settings.verify_max_bytes,
    )


def _collect_remote(
    verifier: Verifier, document: dict[str, Any], extra_dids: list[str]
) -> RemoteMaterial:
    """Fetch foreign DID documents and status lists; runs before any database session."""
    with requests.Session() as http:
        http.headers["User-Agent"] = f"{services().settings.tool_name} verifier"
        fetcher = RemoteFetcher(_remote_policy(), http)
        return remote.collect(document, fetcher, is_local=verifier.is_local, extra_dids=extra_dids)


@bp.post("/verify")
def verify() -> Response:
    """Verify any OB 3.0 credential (JSON or VC-JWT): ours, a did:key issuer's, or a did:web
    issuer's on an allow-listed host. 200 with a report when the proof holds (the credential
    may still be expired / revoked / suspended); 422 problem documents otherwise."""
    body = _read_body()
    if isinstance(body, Response):
        return body
    text = body.strip()
    if not text:
        return _problem(400, "Empty body", "POST an Open Badges 3.0 credential (JSON or VC-JWT)")
    verifier = Verifier(_issuer())
    token: str | None = None
    extra_dids: list[str] = []
    if not text.startswith("{") and text.count(".") == 2:
        try:
            header, document = vcjwt.unverified_parts(text)
        except VcJwtError as exc:
            return _problem(422, "Invalid VC-JWT", str(exc))
        token = text
        if isinstance(header.get("kid"), str):
            extra_dids.append(str(header["kid"]).partition("#")[0])
    else:
        try:
            document = json.loads(text)
        except ValueError as exc:
            return _problem(400, "Not JSON", f"the body is neither JSON nor a VC-JWT: {exc}")
    if not isinstance(document, dict):
        return _problem(422, "Not a credential", "expected a JSON object")
    types = document.get("type")
    types = types if isinstance(types, list) else [types]
    if "VerifiableCredential" not in types or "@context" not in document:
        return _problem(
            422, "Not a credential", "expected a Verifiable Credential with @context and type"
        )
    material = _collect_remote(verifier, document, extra_dids)
    session = db_read()
    jwt_check: dict[str, Any] | None = None
    if token is not None:
        try:
            decoded = verifier.verify_jwt(session, token, material)
        except VcJwtError as exc:
            if exc.kind is not None:
                return _verification_problem(exc.kind, str(exc))
            return _problem(422, "Invalid VC-JWT", str(exc))
        document = decoded.credential
        jwt_check = {"check": "vc-jwt", "result": "passed", "detail": decoded.header["alg"]}
    report = verifier.verify(session, document, remote=material)
    checks = [c.as_json() for c in report.checks]
    if jwt_check is not None:
        checks.insert(0, jwt_check)
    problem = report.problem
    if problem is not None and problem.kind is not None:
        return _verification_problem(problem.kind, problem.detail, checks)
    answer = report.as_json()
    answer["checks"] = checks
    return _json_response(answer)
