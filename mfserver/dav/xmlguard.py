"""Refusing hostile XML request bodies before Radicale or WsgiDAV parse them.

Implementation notes:
- Pure: `check_xml(body)` parses with expat and raises `XmlRefused` or returns the root
  element's name in Clark notation ("{DAV:}propfind").
- No DAV client sends a document type declaration, so any DTD is refused outright: that
  closes internal entity expansion ("billion laughs", RFC 4918 20.6 warns about it), external
  entities and their network fetches, whatever the parser behind us would have done.
- Nesting deeper than `max_depth` elements is refused (a DAV request is a handful of levels
  deep; CalDAV filters a few more), and so is anything that is not well-formed.
- The caller bounds the body's size before calling (`[dav] max_xml`).
"""

from __future__ import annotations

from xml.parsers import expat

MAX_DEPTH = 32


class XmlRefused(ValueError):
    """The body is not acceptable XML; `str()` says why in a few words."""


def check_xml(body: bytes, max_depth: int = MAX_DEPTH) -> str:
    """The root element's name if `body` is well-formed XML without a DTD and not too deep."""
    parser = expat.ParserCreate(namespace_separator=" ")
    depth = 0
    root: list[str] = []

    def start(name: str, _attributes: object) -> None:
        nonlocal depth
        depth += 1
        if depth > max_depth:
            raise XmlRefused(f"XML nested deeper than {max_depth} elements")
        if not root:
            root.append(name)

    def end(_name: str) -> None:
        nonlocal depth
        depth -= 1

    def doctype(*_args: object) -> None:
        raise XmlRefused("XML with a document type declaration")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = doctype
    parser.ExternalEntityRefHandler = doctype
    try:
        parser.Parse(body, True)
    except expat.ExpatError as exc:
        raise XmlRefused(f"malformed XML: {expat.ErrorString(exc.code)}") from None
    namespace, _, local = root[0].rpartition(" ")
    return f"{{{namespace}}}{local}" if namespace else local
