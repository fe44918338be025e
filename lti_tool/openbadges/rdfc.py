"""RDFC-1.0 (RDF Dataset Canonicalization) over pre-serialized N-Quads terms.

Why hand-written rather than pyld's ``URDNA2015`` class:

* pyld 3.3.0 escapes literals differently from RDFC-1.0 / rdf-canonize (it leaves U+0000-U+001F
  other than TAB/LF/CR and U+007F raw and never escapes IRIs), so any such character would make
  our signature unverifiable by Digital Bazaar's verifier. The escaping below is the one of
  rdf-canonize 5 (``NQuads.js``), the reference implementation behind the W3C test suite.
* Working on terms that are already serialized strings (``<iri>``, ``_:b0``, ``"lit"^^<dt>``)
  lets the fast path in :mod:`canonical` feed quads without building pyld's dict structures,
  and keeps each first-degree hash to a few string joins.

Sorting follows rdf-canonize (JavaScript ``Array.prototype.sort``: UTF-16 code units), which
differs from plain code-point order only for lines where a character above U+FFFF meets one in
U+E000-U+FFFF at the first difference. Matching the JS verifier there is what keeps such a
credential verifiable by the ecosystem's verifiers.

Poison-graph protection: like rdf-canonize (``maxWorkFactor = 1``) the number of Hash N-Degree
Quads calls is capped at the number of blank nodes whose first-degree hash is not unique.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence

from pyld.canon import permutations as _sjt_permutations  # type: ignore[import-untyped]

#: One quad: (subject, predicate, object, graph); each an N-Quads term, graph "" = default graph.
Quad = tuple[str, str, str, str]

XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
RDF_LANGSTRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"

_LITERAL_ESCAPES = {
    0x08: "\\b",
    0x09: "\\t",
    0x0A: "\\n",
    0x0C: "\\f",
    0x0D: "\\r",
    0x22: '\\"',
    0x5C: "\\\\",
}
_LITERAL_TABLE = {
    c: _LITERAL_ESCAPES.get(c, f"\\u{c:04X}") for c in [*range(0x20), 0x7F, 0x22, 0x5C]
}
_LITERAL_NEEDS_ESCAPE = re.compile(r'[\x00-\x1f\x7f"\\]')
_IRI_TABLE = {c: f"\\u{c:04X}" for c in [*range(0x21), *map(ord, '<>"{}|^`\\')]}
_IRI_NEEDS_ESCAPE = re.compile(r'[\x00-\x20<>"{}|^`\\]')
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


class CanonicalizationError(ValueError):
    """The dataset cannot be canonicalized (for example a poison graph)."""


def escape_literal(value: str) -> str:
    """Escape a literal's lexical form as rdf-canonize does."""
    if _LITERAL_NEEDS_ESCAPE.search(value) is None:
        return value
    return value.translate(_LITERAL_TABLE)


def escape_iri(value: str) -> str:
    """Escape an IRI as rdf-canonize does."""
    if _IRI_NEEDS_ESCAPE.search(value) is None:
        return value
    return value.translate(_IRI_TABLE)


def iri_term(iri: str) -> str:
    return f"<{escape_iri(iri)}>"


def literal_suffix(datatype: str | None, language: str | None) -> str:
    """What follows the quoted lexical form: ``@lang``, ``^^<datatype>`` or nothing."""
    if language and (datatype is None or datatype == RDF_LANGSTRING):
        return f"@{language}"
    if datatype is None or datatype == XSD_STRING:
        return ""
    return f"^^<{escape_iri(datatype)}>"


def literal_term(value: str, datatype: str | None = None, language: str | None = None) -> str:
    return f'"{escape_literal(value)}"{literal_suffix(datatype, language)}'


def _line(s: str, p: str, o: str, g: str) -> str:
    if g:
        return f"{s} {p} {o} {g} .\n"
    return f"{s} {p} {o} .\n"


def _utf16_key(line: str) -> bytes:
    return line.encode("utf-16-be", "surrogatepass")


def sort_lines(lines: list[str]) -> list[str]:
    """Sort like JavaScript (UTF-16 code units); plain sort when all characters are in the BMP."""
    if any(_ASTRAL.search(line) for line in lines):
        lines.sort(key=_utf16_key)
    else:
        lines.sort()
    return lines


class _Issuer:
    """Identifier issuer (RDFC-1.0 §4.5): prefix + counter, remembering issue order."""

    __slots__ = ("issued", "prefix")

    def __init__(self, prefix: str, issued: dict[str, str] | None = None) -> None:
        self.prefix = prefix
        self.issued: dict[str, str] = {} if issued is None else issued

    def get(self, old: str) -> str:
        new = self.issued.get(old)
        if new is None:
            new = f"{self.prefix}{len(self.issued)}"
            self.issued[old] = new
        return new

    def copy(self) -> _Issuer:
        return _Issuer(self.prefix, dict(self.issued))


def _permutations(items: Sequence[str]) -> Iterator[tuple[str, ...]]:
    # Same Steinhaus-Johnson-Trotter order as pyld and rdf-canonize, so that ties between equal
    # paths resolve to the same issuer as theirs.
    for permutation in _sjt_permutations(list(items)):
        yield tuple(permutation)


class _State:
    def __init__(self, quads: Sequence[Quad]) -> None:
        self.quads = quads
        self.bnode_quads: dict[str, list[Quad]] = {}
        for quad in quads:
            s, _, o, g = quad
            seen: tuple[str, ...] = ()
            for term in (s, o, g):
                if term.startswith("_:") and term not in seen:
                    self.bnode_quads.setdefault(term, []).append(quad)
                    seen = (*seen, term)
        self.first_degree: dict[str, str] = {}
        self.canonical = _Issuer("_:c14n")
        self.remaining_deep = 0

    def hash_first_degree(self, bnode: str) -> str:
        cached = self.first_degree.get(bnode)
        if cached is not None:
            return cached
        lines = []
        for s, p, o, g in self.bnode_quads[bnode]:
            if s.startswith("_:"):
                s = "_:a" if s == bnode else "_:z"
            if o.startswith("_:"):
                o = "_:a" if o == bnode else "_:z"
            if g.startswith("_:"):
                g = "_:a" if g == bnode else "_:z"
            lines.append(_line(s, p, o, g))
        digest = hashlib.sha256("".join(sort_lines(lines)).encode("utf-8")).hexdigest()
        self.first_degree[bnode] = digest
        return digest

    def hash_related(self, related: str, quad: Quad, issuer: _Issuer, position: str) -> str:
        if related in self.canonical.issued:
            ident = self.canonical.issued[related]
        elif related in issuer.issued:
            ident = issuer.issued[related]
        else:
            ident = self.hash_first_degree(related)
        data = position + (quad[1] if position != "g" else "") + ident
        return hashlib.sha256(data.encode("utf-8")).hexdigest()

    def hash_n_degree(self, bnode: str, issuer: _Issuer) -> tuple[str, _Issuer]:
        if self.remaining_deep <= 0:
            raise CanonicalizationError("RDFC-1.0: maximum deep iterations exceeded (poison graph)")
        self.remaining_deep -= 1
        hash_to_related: dict[str, list[str]] = {}
        for quad in self.bnode_quads[bnode]:
            for term, position in ((quad[0], "s"), (quad[2], "o"), (quad[3], "g")):
                if term.startswith("_:") and term != bnode:
                    h = self.hash_related(term, quad, issuer, position)
                    hash_to_related.setdefault(h, []).append(term)
        md = hashlib.sha256()
        for related_hash in sorted(hash_to_related):
            md.update(related_hash.encode("ascii"))
            chosen_path = ""
            chosen_issuer: _Issuer | None = None
            for permutation in _permutations(hash_to_related[related_hash]):
                issuer_copy = issuer.copy()
                path = ""
                recursion: list[str] = []
                skip = False
                for related in permutation:
                    if related in self.canonical.issued:
                        path += self.canonical.issued[related]
                    else:
                        if related not in issuer_copy.issued:
                            recursion.append(related)
                        path += issuer_copy.get(related)
                    if chosen_path and path > chosen_path:
                        skip = True
                        break
                if skip:
                    continue
                for related in recursion:
                    result_hash, result_issuer = self.hash_n_degree(related, issuer_copy)
                    path += issuer_copy.get(related) + f"<{result_hash}>"
                    issuer_copy = result_issuer
                    if chosen_path and path > chosen_path:
                        skip = True
                        break
                if skip:
                    continue
                if not chosen_path or path < chosen_path:
                    chosen_path = path
                    chosen_issuer = issuer_copy
            md.update(chosen_path.encode("utf-8"))
            assert chosen_issuer is not None
            issuer = chosen_issuer
        return md.hexdigest(), issuer

    def run(self) -> str:
        hash_to_bnodes: dict[str, list[str]] = {}
        for bnode in self.bnode_quads:
            hash_to_bnodes.setdefault(self.hash_first_degree(bnode), []).append(bnode)
        non_unique: list[list[str]] = []
        for h in sorted(hash_to_bnodes):
            bnodes = hash_to_bnodes[h]
            if len(bnodes) > 1:
                non_unique.append(bnodes)
            else:
                self.canonical.get(bnodes[0])
        self.remaining_deep = sum(len(bnodes) for bnodes in non_unique)
        for bnodes in non_unique:
            results = []
            for bnode in bnodes:
                if bnode in self.canonical.issued:
                    continue
                temporary = _Issuer("_:b")
                temporary.get(bnode)
                results.append(self.hash_n_degree(bnode, temporary))
            results.sort(key=lambda r: r[0])
            for _, result_issuer in results:
                for old in result_issuer.issued:
                    self.canonical.get(old)
        issued = self.canonical.issued
        lines = [
            _line(
                issued.get(s, s),
                p,
                issued.get(o, o) if o.startswith("_:") else o,
                issued.get(g, g) if g.startswith("_:") else g,
            )
            for s, p, o, g in self.quads
        ]
        return "".join(sort_lines(lines))


def canonicalize_quads(quads: Iterable[Quad]) -> str:
    """RDFC-1.0 canonical N-Quads of a dataset given as quads of serialized terms.

    Duplicate quads are removed first (an RDF dataset is a set).
    """
    unique = list(dict.fromkeys(quads))
    return _State(unique).run()
