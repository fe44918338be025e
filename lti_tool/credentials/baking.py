"""Baked badge images: the signed credential inside a PNG (iTXt ``openbadgecredential``) or an
SVG (``<openbadges:credential>`` in https://purl.imsglobal.org/ob/v3p0), and back out.

XML is built with ElementTree and parsed only through defusedxml. Framework-free.
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any, Final
from xml.etree import ElementTree as ET

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring
from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError
from PIL.PngImagePlugin import PngInfo

PNG_KEYWORD: Final = "openbadgecredential"
OB_NS: Final = "https://purl.imsglobal.org/ob/v3p0"
SVG_NS: Final = "http://www.w3.org/2000/svg"
XLINK_NS: Final = "http://www.w3.org/1999/xlink"
MAX_BAKED_BYTES: Final = 4 * 1024 * 1024

ET.register_namespace("", SVG_NS)
ET.register_namespace("openbadges", OB_NS)
ET.register_namespace("xlink", XLINK_NS)


class BakingError(ValueError):
    """The image cannot be baked, or holds no (single, valid) credential."""


def _json(credential: dict[str, Any]) -> str:
    return json.dumps(credential, ensure_ascii=False, separators=(",", ":"))


def _initials(name: str) -> str:
    words = [w for w in name.split() if w[:1].isalnum()]
    return "".join(w[0] for w in words[:2]).upper() or "★"


def default_png(name: str, size: int = 256) -> bytes:
    """A plain generated badge: a disc with the achievement's initials."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse(
        (4, 4, size - 4, size - 4), fill=(11, 92, 173, 255), outline=(240, 180, 0, 255), width=8
    )
    font = ImageFont.load_default(size=size // 3)
    draw.text((size / 2, size / 2), _initials(name), fill="white", font=font, anchor="mm")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def bake_png(credential: dict[str, Any], source_png: bytes | None, name: str) -> bytes:
    """``source_png`` (or a generated badge) with one iTXt ``openbadgecredential`` chunk."""
    data = source_png if source_png is not None else default_png(name)
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            info = PngInfo()
            info.add_itxt(PNG_KEYWORD, _json(credential), zip=False)
            out = io.BytesIO()
            # Text chunks of the source are not copied: any older baked credential is dropped.
            image.save(out, format="PNG", pnginfo=info)
    except (UnidentifiedImageError, OSError) as exc:
        raise BakingError(f"not a PNG image: {exc}") from exc
    return out.getvalue()


def extract_png(data: bytes) -> dict[str, Any]:
    if len(data) > MAX_BAKED_BYTES:
        raise BakingError("image too large")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "PNG":
                raise BakingError("not a PNG image")
            image.load()
            text = getattr(image, "text", {}).get(PNG_KEYWORD)
    except (UnidentifiedImageError, OSError) as exc:
        raise BakingError(f"not a PNG image: {exc}") from exc
    if text is None:
        raise BakingError(f"no {PNG_KEYWORD} iTXt chunk")
    return _load(str(text))


def _load(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise BakingError(f"baked credential is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise BakingError("baked credential is not a JSON object")
    return value


def _default_svg_root(name: str, png: bytes | None) -> ET.Element:
    root = ET.Element(
        f"{{{SVG_NS}}}svg",
        {"width": "256", "height": "256", "viewBox": "0 0 256 256", "role": "img"},
    )
    title = ET.SubElement(root, f"{{{SVG_NS}}}title")
    title.text = name
    if png is not None:
        href = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        ET.SubElement(root, f"{{{SVG_NS}}}image", {"width": "256", "height": "256", "href": href})
        return root
    ET.SubElement(
        root,
        f"{{{SVG_NS}}}circle",
        {
            "cx": "128",
            "cy": "128",
            "r": "120",
            "fill": "#0b5cad",
            "stroke": "#f0b400",
            "stroke-width": "8",
        },
    )
    text = ET.SubElement(
        root,
        f"{{{SVG_NS}}}text",
        {
            "x": "128",
            "y": "150",
            "font-size": "72",
            "text-anchor": "middle",
            "fill": "#fff",
            "font-family": "sans-serif",
        },
    )
    text.text = _initials(name)
    return root


def bake_svg(
    credential: dict[str, Any], source_svg: bytes | None, name: str, png: bytes | None = None
) -> bytes:
    """An SVG (the achievement's own, or one wrapping its PNG, or a generated badge) with the
    credential as the text of ``<openbadges:credential>``, its first child."""
    if source_svg is not None:
        try:
            root = fromstring(source_svg, forbid_dtd=True)
        except (ParseError, DefusedXmlException) as exc:
            raise BakingError(f"not a usable SVG: {exc}") from exc
        if root.tag != f"{{{SVG_NS}}}svg":
            raise BakingError("the root element is not an SVG <svg>")
        for old in root.findall(f"{{{OB_NS}}}credential"):
            root.remove(old)
    else:
        root = _default_svg_root(name, png)
    element = ET.Element(f"{{{OB_NS}}}credential")
    element.text = _json(credential)
    root.insert(0, element)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def extract_svg(data: bytes) -> dict[str, Any]:
    if len(data) > MAX_BAKED_BYTES:
        raise BakingError("image too large")
    try:
        root = fromstring(data, forbid_dtd=True)
    except (ParseError, DefusedXmlException) as exc:
        raise BakingError(f"not a usable SVG: {exc}") from exc
    found = root.findall(f".//{{{OB_NS}}}credential")
    if len(found) != 1:
        raise BakingError(f"expected one openbadges:credential element, found {len(found)}")
    element = found[0]
    if element.get("verify"):  # a VC-JWT baked as an attribute
        raise BakingError("baked VC-JWT (verify attribute) is not supported here")
    return _load(element.text or "")
