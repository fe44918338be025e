"""The signed SAML 2.0 assertion SuccessFactors exchanges for an OAuth access token.

SAP SuccessFactors' platform OData API uses the OAuth 2.0 SAML bearer grant (RFC 7522): the
client signs an assertion with the private key whose X.509 certificate is registered with
its OAuth client application, then posts it (base64) to ``{api}/oauth/token``. The assertion
carries:

* ``Issuer`` and the ``api_key`` attribute: the OAuth client's API key (client id);
* ``Subject/NameID``: the SuccessFactors user the API calls run as, with a ``bearer``
  ``SubjectConfirmation`` whose ``Recipient`` is the token URL;
* ``Conditions``: a short validity window and the audience ``www.successfactors.com``;
* an ``AuthnStatement`` and an enveloped XML signature (RSA-SHA256, exclusive C14N) placed
  right after the ``Issuer``, as the SAML schema requires.

The XML is built with lxml and signed with signxml (a maintained XML-DSig implementation on
top of lxml and cryptography); no value is ever concatenated into XML text.
"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree
from signxml import XMLSigner
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod

SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DSIG = "http://www.w3.org/2000/09/xmldsig#"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
NAMEID_UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
AUTHN_CONTEXT = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
DEFAULT_AUDIENCE = "www.successfactors.com"
CLOCK_SKEW = timedelta(minutes=1)


class CredentialError(ValueError):
    """The private key or certificate cannot be used (the message says why, never the key)."""


def load_key(pem: str) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise CredentialError("private_key is not an unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CredentialError(
            "private_key must be an RSA key (SuccessFactors signs with RSA-SHA256)"
        )
    return key


def load_certificate(pem: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        raise CredentialError("certificate is not a PEM X.509 certificate") from None


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    child = etree.SubElement(parent, f"{{{SAML}}}{name}")
    if text is not None:
        child.text = text
    return child


def build_assertion(
    *,
    client_id: str,
    user_id: str,
    token_url: str,
    audience: str = DEFAULT_AUDIENCE,
    lifetime: timedelta = timedelta(minutes=5),
    now: datetime | None = None,
) -> etree._Element:
    """The unsigned assertion, with a signature placeholder after the ``Issuer``."""
    issued = now or datetime.now(UTC)
    expires = issued + lifetime
    assertion = etree.Element(f"{{{SAML}}}Assertion", nsmap={"saml2": SAML})
    assertion.set("ID", f"_{uuid.uuid4().hex}")
    assertion.set("IssueInstant", _stamp(issued))
    assertion.set("Version", "2.0")
    _sub(assertion, "Issuer", client_id)
    placeholder = etree.SubElement(assertion, f"{{{DSIG}}}Signature", nsmap={"ds": DSIG})
    placeholder.set("Id", "placeholder")
    subject = _sub(assertion, "Subject")
    _sub(subject, "NameID", user_id).set("Format", NAMEID_UNSPECIFIED)
    confirmation = _sub(subject, "SubjectConfirmation")
    confirmation.set("Method", BEARER)
    data = _sub(confirmation, "SubjectConfirmationData")
    data.set("NotOnOrAfter", _stamp(expires))
    data.set("Recipient", token_url)
    conditions = _sub(assertion, "Conditions")
    conditions.set("NotBefore", _stamp(issued - CLOCK_SKEW))
    conditions.set("NotOnOrAfter", _stamp(expires))
    _sub(_sub(conditions, "AudienceRestriction"), "Audience", audience)
    authn = _sub(assertion, "AuthnStatement")
    authn.set("AuthnInstant", _stamp(issued))
    authn.set("SessionIndex", assertion.get("ID", ""))
    _sub(_sub(authn, "AuthnContext"), "AuthnContextClassRef", AUTHN_CONTEXT)
    attribute = _sub(_sub(assertion, "AttributeStatement"), "Attribute")
    attribute.set("Name", "api_key")
    _sub(attribute, "AttributeValue", client_id)
    return assertion


def signed_assertion(
    *,
    client_id: str,
    user_id: str,
    token_url: str,
    private_key: rsa.RSAPrivateKey,
    certificate: x509.Certificate,
    audience: str = DEFAULT_AUDIENCE,
    lifetime: timedelta = timedelta(minutes=5),
    now: datetime | None = None,
) -> str:
    """The base64 of the signed assertion, ready for the ``assertion`` form field."""
    assertion = build_assertion(
        client_id=client_id,
        user_id=user_id,
        token_url=token_url,
        audience=audience,
        lifetime=lifetime,
        now=now,
    )
    signer = XMLSigner(
        signature_algorithm=SignatureMethod.RSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    signed = signer.sign(
        assertion,
        key=private_key,
        cert=[certificate],
        reference_uri=assertion.get("ID"),
        id_attribute="ID",
    )
    return base64.b64encode(etree.tostring(signed)).decode("ascii")
