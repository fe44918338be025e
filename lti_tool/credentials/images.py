"""Badge image checks: a PNG that really is one, or an SVG with nothing active in it.

The bytes are stored as given once they pass (no re-encoding), so what the admin uploaded is
what a baked credential will carry. Limits: 1 MB, 4096 x 4096 pixels for PNG.
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
from dataclasses import dataclass
from xml.etree.ElementTree import Element  # the type only: parsing goes through defusedxml

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring
from marshmallow import ValidationError

MAX_IMAGE_BYTES = 1024 * 1024
MAX_PNG_SIDE = 4096
PNG = "image/png"
SVG = "image/svg+xml"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SVG_NS = "http://www.w3.org/2000/svg"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"

# Elements that run code, embed other documents or animate attributes into links.
_FORBIDDEN_ELEMENTS = {
    "script",
    "foreignobject",
    "iframe",
    "embed",
    "object",
    "audio",
    "video",
    "handler",
    "listener",
}
_ANIMATION_ELEMENTS = {"set", "animate", "animatemotion", "animatetransform", "animatecolor"}
_URL_FUNCTION = re.compile(r"url\s*\(\s*['\"]?\s*([^'\")\s]*)", re.IGNORECASE)
_DATA_IMAGE = re.compile(r"data:image/(png|jpeg|gif|webp);base64,", re.IGNORECASE)


@dataclass(frozen=True)
class ValidatedImage:
    data: bytes
    media_type: str
    width: int | None
    height: int | None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def _fail(message: str) -> ValidationError:
    return ValidationError({"image": [message]})


def validate_image(data: bytes, media_type: str | None = None) -> ValidatedImage:
    """Check `data` (and the declared `media_type`, if any); ValidationError on "image"."""
    if not data:
        raise _fail("the image is empty")
    if len(data) > MAX_IMAGE_BYTES:
        raise _fail(f"the image is {len(data):,} bytes; the limit is 1 MB ({MAX_IMAGE_BYTES:,})")
    if data.startswith(PNG_SIGNATURE):
        image = _validate_png(data)
    elif _looks_like_svg(data):
        image = _validate_svg(data)
    else:
        raise _fail("the image must be a PNG or an SVG file")
    if media_type is not None and media_type.split(";")[0].strip().lower() != image.media_type:
        raise _fail(f"declared as {media_type} but the file is {image.media_type}")
    return image


def _validate_png(data: bytes) -> ValidatedImage:
    # IHDR first: refuse absurd dimensions before anything decodes pixels.
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise _fail("not a valid PNG file (no IHDR header)")
    width, height = struct.unpack(">II", data[16:24])
    if not (1 <= width <= MAX_PNG_SIDE and 1 <= height <= MAX_PNG_SIDE):
        raise _fail(f"PNG is {width}x{height}; each side must be 1 to {MAX_PNG_SIDE} pixels")
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:  # pragma: no cover - Pillow is a dependency; header checks still ran
        return ValidatedImage(data, PNG, width, height)
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.format != "PNG":
                raise _fail("not a valid PNG file")
            probe.verify()  # chunk structure and CRCs
        with Image.open(io.BytesIO(data)) as decoded:
            decoded.load()  # the pixel data decodes completely
            width, height = decoded.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise _fail(f"not a valid PNG file ({exc})") from exc
    return ValidatedImage(data, PNG, width, height)


def _looks_like_svg(data: bytes) -> bool:
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith(b"<") and b"<svg" in data[:65536].lower()


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].lower()


def _is_internal_reference(value: str) -> bool:
    value = value.strip()
    return value.startswith("#") or bool(_DATA_IMAGE.match(value))


def _validate_svg(data: bytes) -> ValidatedImage:
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise _fail("SVG must not contain a DOCTYPE, entities or external references") from exc
    except ParseError as exc:
        raise _fail(f"not a well-formed SVG file ({exc})") from exc
    if root.tag != f"{{{SVG_NS}}}svg":
        raise _fail("the root element must be <svg> in the SVG namespace")
    for element in root.iter():
        _check_svg_element(element)
    return ValidatedImage(
        data, SVG, _svg_length(root.get("width")), _svg_length(root.get("height"))
    )


def _check_svg_element(element: Element) -> None:
    if not isinstance(element.tag, str):  # comments, processing instructions
        return
    name = _local(element.tag)
    if name in _FORBIDDEN_ELEMENTS:
        raise _fail(f"SVG must not contain <{name}> elements")
    for attribute, value in element.attrib.items():
        attr = _local(attribute)
        if attr.startswith("on"):
            raise _fail(f"SVG must not contain event handlers ({attr} on <{name}>)")
        if "javascript:" in value.replace(" ", "").lower():
            raise _fail(f"SVG must not contain javascript: URLs ({attr} on <{name}>)")
        if attr == "href" and not _is_internal_reference(value):
            raise _fail(f"SVG must not refer to external resources ({attr}={value!r})")
        if name in _ANIMATION_ELEMENTS and attr == "attributename":
            target = _local(value)
            if target == "href" or target.startswith("on"):
                raise _fail(f"SVG must not animate {value!r}")
        if attr == "style":
            _check_css(value)
    if name == "style":
        _check_css(element.text or "")


def _check_css(css: str) -> None:
    if "@import" in css.lower():
        raise _fail("SVG styles must not @import other resources")
    for target in _URL_FUNCTION.findall(css):
        if target and not _is_internal_reference(target):
            raise _fail(f"SVG styles must not refer to external resources (url({target}))")


def _svg_length(value: str | None) -> int | None:
    if not value:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(px)?\s*", value)
    return round(float(match.group(1))) if match else None
