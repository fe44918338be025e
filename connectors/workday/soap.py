"""SOAP 1.1 envelopes with a WS-Security UsernameToken, and SOAP Faults, built with lxml.

Every value is set as element text or an attribute through lxml, which escapes it; no
request is ever assembled by string concatenation. Responses are parsed with entity
resolution, DTD loading and network access switched off.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
PROFILE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
PASSWORD_TEXT = f"{PROFILE}#PasswordText"  # the password type URI, not a password
BSVC = "urn:com.workday/bsvc"
NSMAP = {"env": SOAP_ENV, "wsse": WSSE, "bsvc": BSVC}
CONTENT_TYPE = "text/xml; charset=utf-8"


class MalformedXML(ValueError):
    """A response that is not the XML expected (the message says what is wrong)."""


class UnencodableText(ValueError):
    """Text that XML 1.0 cannot carry (control characters, lone surrogates)."""


def safe_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def bsvc(name: str) -> str:
    """The Clark name of a Workday element or attribute."""
    return f"{{{BSVC}}}{name}"


def sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    """Append ``bsvc:name`` to ``parent``, with ``text`` (escaped by lxml) if given."""
    child = etree.SubElement(parent, bsvc(name))
    if text is not None:
        try:
            child.text = text
        except ValueError:
            raise UnencodableText(f"{name} holds characters XML 1.0 cannot carry") from None
    return child


def envelope(payload: etree._Element, *, username: str, password: str) -> bytes:
    """``payload`` in a SOAP 1.1 envelope whose header carries the UsernameToken."""
    root = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap=NSMAP)
    header = etree.SubElement(root, f"{{{SOAP_ENV}}}Header")
    security = etree.SubElement(header, f"{{{WSSE}}}Security")
    security.set(f"{{{SOAP_ENV}}}mustUnderstand", "1")
    token = etree.SubElement(security, f"{{{WSSE}}}UsernameToken")
    etree.SubElement(token, f"{{{WSSE}}}Username").text = username
    secret = etree.SubElement(token, f"{{{WSSE}}}Password")
    secret.set("Type", PASSWORD_TEXT)
    secret.text = password
    body = etree.SubElement(root, f"{{{SOAP_ENV}}}Body")
    body.append(payload)
    document: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return document


def parse_body(content: bytes) -> etree._Element:
    """The single element inside a SOAP 1.1 Body; :class:`MalformedXML` otherwise."""
    try:
        root = etree.fromstring(content, parser=safe_parser())
    except etree.XMLSyntaxError as exc:
        raise MalformedXML(f"not XML ({exc.msg})") from None
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise MalformedXML(f"not a SOAP 1.1 envelope (root {etree.QName(root).localname})")
    body = root.find(f"{{{SOAP_ENV}}}Body")
    if body is None:
        raise MalformedXML("the SOAP envelope has no Body")
    children = [child for child in body if isinstance(child.tag, str)]
    if len(children) != 1:
        raise MalformedXML(f"the SOAP Body holds {len(children)} elements, not 1")
    return children[0]


@dataclass(frozen=True, slots=True)
class Fault:
    """A SOAP 1.1 Fault; ``messages`` are Workday's validation/processing messages."""

    code: str  # the faultcode's local part, e.g. "Client.validationError"
    string: str
    messages: tuple[str, ...] = ()
    xpaths: tuple[str, ...] = ()

    @property
    def is_authentication(self) -> bool:
        lowered = self.code.lower()
        return "authentication" in lowered or "authorization" in lowered

    @property
    def is_client(self) -> bool:
        return self.code.startswith("Client")

    def describe(self) -> str:
        parts = [self.string or self.code, *[m for m in self.messages if m != self.string]]
        return "; ".join(part for part in parts if part)


def as_fault(element: etree._Element) -> Fault | None:
    """The :class:`Fault` if ``element`` is ``env:Fault``, else ``None``."""
    if element.tag != f"{{{SOAP_ENV}}}Fault":
        return None
    code = (element.findtext("faultcode") or "").strip()
    local = code.split(":", 1)[-1]
    messages: list[str] = []
    xpaths: list[str] = []
    detail = element.find("detail")
    if detail is not None:
        for error in detail.iter(bsvc("Validation_Error"), bsvc("Processing_Fault")):
            for name in ("Message", "Detail_Message"):
                text = (error.findtext(bsvc(name)) or "").strip()
                if text and text not in messages:
                    messages.append(text)
            xpath = (error.findtext(bsvc("Xpath")) or "").strip()
            if xpath:
                xpaths.append(xpath)
    string = " ".join((element.findtext("faultstring") or "").split())
    return Fault(code=local, string=string, messages=tuple(messages), xpaths=tuple(xpaths))
