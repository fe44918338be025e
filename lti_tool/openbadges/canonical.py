"""RDFC-1.0 canonical N-Quads of a JSON-LD document: full path and template fast path.

Full path (:func:`canonicalize_full`): pyld expands the document with the offline loader and
turns it into an RDF dataset, our :mod:`rdfc` canonicalizes it. pyld runs in a "safe mode"
mirroring the one Digital Bazaar's Data Integrity libraries use (dropped properties, relative
IRIs and ``@direction`` are errors), because silently dropped data is unsigned data.

Fast path (:class:`Canonicalizer`): JSON-LD expansion and ``toRdf`` (most of the ~5 ms pyld
needs per credential) depend on the document's *structure*, not on most string values. We split
a document into a *shape* (every key, every non-string value, every ``@context``/``type`` value)
and *slots* (the other strings, in document order). For each shape we run the full path once on
a copy whose slots hold unique sentinel IRIs, and find where each sentinel lands in the dataset:

* as a literal's lexical form (not ``xsd:double`` nor ``rdf:JSON``, whose lexical forms pyld
  rewrites): the real string lands there verbatim, whatever it is;
* as an IRI: the real string lands there verbatim if it is an absolute IRI that no context term
  or prefix can rewrite (checked per value); otherwise that slot becomes part of the template key
  ("fixed") and a template with its real value is built;
* nowhere: the value does not reach the dataset (same for the real value);
* anywhere else (inside a JSON literal, ...): the slot is fixed.

Per credential we substitute the slot tokens into the template's quads, drop duplicate quads
(two slots may hold the same IRI, merging nodes) and run RDFC-1.0 on the result: blank-node
labels are recomputed each time, since they depend on hashes of the whole graph. The property
test ``tests/openbadges/test_canonical.py`` checks byte equality with the full path and with
pyld's own URDNA2015 over generated credentials.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final
from weakref import WeakKeyDictionary

from cachetools import LRUCache
from pyld.context_resolver import ContextResolver  # type: ignore[import-untyped]
from pyld.jsonld import JsonLdError, JsonLdProcessor  # type: ignore[import-untyped]

from .contexts import DocumentLoader, offline_document_loader
from .rdfc import Quad, canonicalize_quads, escape_iri, iri_term, literal_suffix, literal_term

XSD_DOUBLE = "http://www.w3.org/2001/XMLSchema#double"
RDF_JSON = "http://www.w3.org/1999/02/22-rdf-syntax-ns#JSON"

# jsonld.js `isAbsoluteRegex` (identical in pyld): what both sides call an absolute IRI.
_ABSOLUTE_IRI: Final = re.compile(r"^([A-Za-z][A-Za-z0-9+\-.]*|_):[^\s]*$")
# Stricter: what a slot value must look like to be substituted into an IRI position.
_SAFE_IRI: Final = re.compile(r"^([A-Za-z][A-Za-z0-9+\-.]*):[^\s<>\"{}|^`\\]*$")


class JsonLdSafetyError(ValueError):
    """The document would lose or misplace data in JSON-LD processing (safe mode)."""


class CanonicalizationFailed(ValueError):
    """JSON-LD processing failed (unknown context, invalid JSON-LD, ...)."""


# --------------------------------------------------------------------------- full path


_resolver_caches: WeakKeyDictionary[Callable[..., Any], LRUCache[str, Any]] = WeakKeyDictionary()
_resolver_lock = threading.Lock()


def _options(loader: DocumentLoader) -> dict[str, Any]:
    # pyld's default ContextResolver shares one process-wide cache across all loaders; a context
    # loaded by a test loader would then be served to the offline loader. One cache per loader.
    with _resolver_lock:
        cache = _resolver_caches.get(loader)
        if cache is None:
            cache = LRUCache(maxsize=100)
            _resolver_caches[loader] = cache
    return {
        "base": None,  # pyld resolves relative IRIs against http://example.org/base/ for ""
        "documentLoader": loader,
        "contextResolver": ContextResolver(cache, loader),
        "processingMode": "json-ld-1.1",
        "extractAllScripts": True,
    }


def _raise_dropped(expanded_property: Any) -> None:
    raise JsonLdSafetyError(f"JSON-LD safe mode: property dropped ({expanded_property!r})")


def _check_expanded(node: Any) -> None:
    """Reject what jsonld.js safe mode rejects and pyld silently drops."""
    if isinstance(node, list):
        for item in node:
            _check_expanded(item)
        return
    if not isinstance(node, dict):
        return
    node_id = node.get("@id")
    if isinstance(node_id, str) and not _ABSOLUTE_IRI.match(node_id):
        raise JsonLdSafetyError(f"JSON-LD safe mode: relative @id reference {node_id!r}")
    types = node.get("@type")
    for type_ in types if isinstance(types, list) else [types]:
        if isinstance(type_, str) and not type_.startswith("@") and not _ABSOLUTE_IRI.match(type_):
            raise JsonLdSafetyError(f"JSON-LD safe mode: relative @type reference {type_!r}")
    if "@direction" in node:
        raise JsonLdSafetyError("JSON-LD safe mode: @direction is not supported (rdfDirection)")
    for key, value in node.items():
        if key not in ("@value", "@id", "@type", "@language"):
            _check_expanded(value)


def _term_token(term: Mapping[str, Any]) -> str:
    kind = term["type"]
    if kind == "blank node":
        return str(term["value"])
    if kind == "IRI":
        return iri_term(term["value"])
    return literal_term(term["value"], term.get("datatype"), term.get("language"))


def _js_numbers(node: Any) -> Any:
    """Integral floats become ints: JSON ``3.0`` is the integer 3 to a JavaScript verifier."""
    if isinstance(node, float) and node.is_integer() and abs(node) < 1e21:
        return int(node)
    if isinstance(node, dict):
        return {k: _js_numbers(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_js_numbers(v) for v in node]
    return node


def document_quads(document: Mapping[str, Any], loader: DocumentLoader) -> list[Quad]:
    """The RDF dataset of a JSON-LD document, as serialized-term quads (pyld, safe mode)."""
    doc = _js_numbers(dict(document))
    try:
        expanded = JsonLdProcessor(on_property_dropped=_raise_dropped).expand(doc, _options(loader))
        _check_expanded(expanded)
        dataset = JsonLdProcessor().to_rdf(expanded, _options(loader))
    except JsonLdSafetyError:
        raise
    except JsonLdError as exc:
        safety = _find_cause(exc, JsonLdSafetyError)
        if safety is not None:
            raise safety from exc
        raise CanonicalizationFailed(f"JSON-LD processing failed: {exc}") from exc
    quads: list[Quad] = []
    for graph_name, triples in dataset.items():
        graph = "" if graph_name == "@default" else _graph_token(graph_name)
        for triple in triples:
            quads.append(
                (
                    _term_token(triple["subject"]),
                    _term_token(triple["predicate"]),
                    _term_token(triple["object"]),
                    graph,
                )
            )
    return quads


def _find_cause(exc: BaseException, kind: type[JsonLdSafetyError]) -> JsonLdSafetyError | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _graph_token(name: str) -> str:
    return name if name.startswith("_:") else f"<{escape_iri(name)}>"


def canonicalize_full(
    document: Mapping[str, Any], loader: DocumentLoader = offline_document_loader
) -> str:
    """RDFC-1.0 canonical N-Quads of ``document`` through full JSON-LD processing."""
    return canonicalize_quads(document_quads(document, loader))


# --------------------------------------------------------------------------- fast path

_SLOT: Final = object()  # marks a slot inside a shape
_SLOT_PREFIX: Final = f"urn:x-microcred-slot:{secrets.token_hex(8)}:"
_SLOT_SEARCH: Final = re.compile(re.escape(_SLOT_PREFIX) + r"(\d+)(?![0-9])")

_IRI = 1
_LITERAL = 2
_ABSENT = 0
_OTHER = 3

Shape = tuple[Any, ...]


def _split(node: Any, values: list[str], contexts: list[Any], slot_ok: bool) -> Any:
    """Shape of ``node`` (hashable); slot strings go to ``values``, contexts to ``contexts``."""
    if isinstance(node, str):
        if slot_ok:
            values.append(node)
            return _SLOT
        return ("s", node)
    if isinstance(node, dict):
        items = []
        for key, value in node.items():
            if key == "@context":
                contexts.append(value)
                items.append((key, ("c", json.dumps(value))))
            else:
                ok = key != "type" and not key.startswith("@")
                items.append((key, _split(value, values, contexts, ok)))
        return ("d", tuple(items))
    if isinstance(node, list):
        return ("l", tuple(_split(item, values, contexts, slot_ok) for item in node))
    if isinstance(node, bool) or node is None:
        return ("b", node)
    if isinstance(node, float) and node.is_integer() and abs(node) < 1e21:
        node = int(node)
    return (type(node).__name__, node)


def _fill(node: Any, values: list[str], index: list[int]) -> Any:
    """Rebuild a document from its shape and slot values."""
    if node is _SLOT:
        value = values[index[0]]
        index[0] += 1
        return value
    kind, payload = node
    if kind == "d":
        return {
            key: json.loads(sub[1]) if key == "@context" else _fill(sub, values, index)
            for key, sub in payload
        }
    if kind == "l":
        return [_fill(item, values, index) for item in payload]
    return payload


@lru_cache(maxsize=64)
def _context_terms(contexts_json: str, loader: DocumentLoader) -> frozenset[str]:
    """Every term (and so every prefix) defined in the given contexts, followed recursively."""
    terms: set[str] = set()
    seen: set[str] = set()

    def walk(ctx: Any, in_context: bool) -> None:
        if isinstance(ctx, str) and in_context:
            if ctx in seen:
                return
            seen.add(ctx)
            try:
                remote = loader(ctx, {})
            except Exception:
                return
            document = remote.get("document")
            if isinstance(document, str):
                document = json.loads(document)
            if isinstance(document, dict):
                walk(document.get("@context"), True)
        elif isinstance(ctx, list):
            for item in ctx:
                walk(item, in_context)
        elif isinstance(ctx, dict):
            for key, value in ctx.items():
                if in_context and not key.startswith("@"):
                    terms.add(key)
                walk(value, in_context or key == "@context")

    walk(json.loads(contexts_json), True)
    return frozenset(terms)


@dataclass(frozen=True, slots=True)
class _Template:
    quads: tuple[tuple[Any, Any, Any, Any], ...]  # str token, or int slot index
    kinds: tuple[int, ...]  # per slot: _IRI, _LITERAL, _ABSENT, _OTHER
    suffixes: tuple[str, ...]  # per literal slot: datatype / language suffix
    fixed: frozenset[int]  # slots whose real value is baked into the quads


class Canonicalizer:
    """RDFC-1.0 canonicalization with a per-shape template cache (thread-safe).

    ``canonicalize(doc)`` always returns exactly what :func:`canonicalize_full` returns; it is
    only faster when many documents share a shape (one achievement, many learners).
    """

    def __init__(
        self, loader: DocumentLoader = offline_document_loader, max_templates: int = 512
    ) -> None:
        self.loader = loader
        self.max_templates = max_templates
        self._templates: OrderedDict[Any, _Template] = OrderedDict()
        self._lock = threading.Lock()
        self.stats = {"hits": 0, "builds": 0}

    # -- public

    def canonicalize(self, document: Mapping[str, Any]) -> str:
        return canonicalize_quads(self.quads(document))

    def quads(self, document: Mapping[str, Any]) -> list[Quad]:
        values: list[str] = []
        contexts: list[Any] = []
        shape = _split(dict(document), values, contexts, True)
        terms = _context_terms(json.dumps(contexts), self.loader)
        template = self._template(shape, values, frozenset())
        needed = self._needed_fixed(template, values, terms)
        while not needed <= template.fixed:
            template = self._template(shape, values, template.fixed | needed)
            needed = self._needed_fixed(template, values, terms)
        return self._instantiate(template, values)

    # -- internals

    @staticmethod
    def _needed_fixed(
        template: _Template, values: list[str], terms: frozenset[str]
    ) -> frozenset[int]:
        return frozenset(
            i
            for i, kind in enumerate(template.kinds)
            if i not in template.fixed
            and (kind == _OTHER or (kind == _IRI and not _safe_iri(values[i], terms)))
        )

    def _template(self, shape: Shape, values: list[str], fixed: frozenset[int]) -> _Template:
        key = (shape, tuple((i, values[i]) for i in sorted(fixed)))
        with self._lock:
            template = self._templates.get(key)
            if template is not None:
                self._templates.move_to_end(key)
                self.stats["hits"] += 1
                return template
        template = self._build(shape, values, fixed)
        with self._lock:
            self._templates[key] = template
            self.stats["builds"] += 1
            while len(self._templates) > self.max_templates:
                self._templates.popitem(last=False)
        return template

    def _build(self, shape: Shape, values: list[str], fixed: frozenset[int]) -> _Template:
        sentinels = [values[i] if i in fixed else f"{_SLOT_PREFIX}{i}" for i in range(len(values))]
        quads = document_quads(_fill(shape, sentinels, [0]), self.loader)
        n = len(values)
        kinds = [_ABSENT] * n
        suffixes = [""] * n
        compiled: list[tuple[Any, Any, Any, Any]] = []
        for quad in quads:
            parts: list[Any] = []
            for token in quad:
                slot, kind, suffix = _classify(token)
                if slot is None or slot in fixed or slot >= n:
                    if _SLOT_SEARCH.search(token):
                        for match in _SLOT_SEARCH.finditer(token):
                            kinds[int(match.group(1))] = _OTHER
                    parts.append(token)
                    continue
                same_suffix = kind != _LITERAL or suffixes[slot] in ("", suffix)
                if kinds[slot] in (_ABSENT, kind) and same_suffix:
                    kinds[slot] = kind
                    if kind == _LITERAL:
                        suffixes[slot] = suffix
                else:
                    kinds[slot] = _OTHER
                parts.append(slot)
            compiled.append((parts[0], parts[1], parts[2], parts[3]))
        return _Template(tuple(compiled), tuple(kinds), tuple(suffixes), fixed)

    @staticmethod
    def _instantiate(template: _Template, values: list[str]) -> list[Quad]:
        tokens: list[str] = []
        for i, kind in enumerate(template.kinds):
            if kind == _IRI:
                tokens.append(iri_term(values[i]))
            elif kind == _LITERAL:
                tokens.append(literal_term(values[i]) + template.suffixes[i])
            else:
                tokens.append("")
        out: list[Quad] = []
        for s, p, o, g in template.quads:
            out.append(
                (
                    s if s.__class__ is str else tokens[s],
                    p if p.__class__ is str else tokens[p],
                    o if o.__class__ is str else tokens[o],
                    g if g.__class__ is str else tokens[g],
                )
            )
        return out


def _classify(token: str) -> tuple[int | None, int, str]:
    """Is ``token`` exactly one slot sentinel, as an IRI or as a plain-enough literal?"""
    if token.startswith("<" + _SLOT_PREFIX):
        match = _SLOT_SEARCH.match(token, 1)
        if match and match.end() == len(token) - 1:
            return int(match.group(1)), _IRI, ""
        return None, _OTHER, ""
    if token.startswith('"' + _SLOT_PREFIX):
        match = _SLOT_SEARCH.match(token, 1)
        if match and token.startswith('"', match.end()):
            suffix = token[match.end() + 1 :]
            if suffix in (
                literal_suffix(XSD_DOUBLE, None),
                literal_suffix(RDF_JSON, None),
            ):
                return None, _OTHER, ""
            return int(match.group(1)), _LITERAL, suffix
    return None, _OTHER, ""


def _safe_iri(value: str, terms: frozenset[str]) -> bool:
    match = _SAFE_IRI.match(value)
    return match is not None and value not in terms and match.group(1) not in terms


_default: Canonicalizer | None = None


def default_canonicalizer() -> Canonicalizer:
    """Process-wide canonicalizer over the bundled contexts."""
    global _default
    if _default is None:
        _default = Canonicalizer()
    return _default


def canonicalize(document: Mapping[str, Any], loader: DocumentLoader | None = None) -> str:
    """RDFC-1.0 canonical N-Quads of ``document`` (fast path; same bytes as the full path)."""
    if loader is None or loader is offline_document_loader:
        return default_canonicalizer().canonicalize(document)
    return canonicalize_full(document, loader)
