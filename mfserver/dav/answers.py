"""Small WSGI answers written by mfserver itself (errors, redirects, multistatus).

Implementation notes:
- Every answer has a Content-Length, so keep-alive connections stay usable after an error.
- `multistatus()` writes an RFC 4918 13 `207 Multi-Status` body: per resource one propstat for
  the properties found (200) and one for those asked for but unknown (404).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from http import HTTPStatus
from typing import Any
from xml.etree import ElementTree as ET

StartResponse = Callable[..., Any]
DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
CARDDAV = "urn:ietf:params:xml:ns:carddav"

ET.register_namespace("D", DAV)
ET.register_namespace("C", CALDAV)
ET.register_namespace("CR", CARDDAV)


def status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


def send(start_response: StartResponse, status: int, body: bytes | str = b"",
         headers: Iterable[tuple[str, str]] = (),
         content_type: str = "text/plain; charset=utf-8") -> list[bytes]:
    """Start a response with `body` (text gets a trailing newline) and return it."""
    if isinstance(body, str):
        body = (body + "\n").encode("utf-8") if body else b""
    all_headers = [("Content-Length", str(len(body)))]
    if body:
        all_headers.append(("Content-Type", content_type))
    all_headers.extend(headers)
    start_response(status_line(status), all_headers)
    return [body]


def dav_error(start_response: StartResponse, status: int, condition: str) -> list[bytes]:
    """An error with an RFC 4918 16 precondition element, e.g. "propfind-finite-depth"."""
    root = ET.Element(f"{{{DAV}}}error")
    ET.SubElement(root, f"{{{DAV}}}{condition}")
    return send(start_response, status, ET.tostring(root, xml_declaration=True,
                                                    encoding="utf-8"),
                content_type="application/xml; charset=utf-8")


def redirect(start_response: StartResponse, location: str, status: int = 301) -> list[bytes]:
    return send(start_response, status, f"Moved to {location}", [("Location", location)])


PropValue = Callable[[ET.Element], None]  # fills the property element


def href_value(href: str) -> PropValue:
    def fill(element: ET.Element) -> None:
        ET.SubElement(element, f"{{{DAV}}}href").text = href
    return fill


def collection_value(element: ET.Element) -> None:
    ET.SubElement(element, f"{{{DAV}}}collection")


def multistatus(start_response: StartResponse,
                resources: Sequence[tuple[str, dict[str, PropValue]]],
                asked: Sequence[str] | None) -> list[bytes]:
    """207 with, per (href, known properties), the `asked` ones (all known when None)."""
    root = ET.Element(f"{{{DAV}}}multistatus")
    for href, known in resources:
        response = ET.SubElement(root, f"{{{DAV}}}response")
        ET.SubElement(response, f"{{{DAV}}}href").text = href
        names = list(known) if asked is None else list(asked)
        found = [name for name in names if name in known]
        missing = [name for name in names if name not in known]
        for group, status in ((found, 200), (missing, 404)):
            if not group:
                continue
            propstat = ET.SubElement(response, f"{{{DAV}}}propstat")
            prop = ET.SubElement(propstat, f"{{{DAV}}}prop")
            for name in group:
                element = ET.SubElement(prop, name)
                if status == 200:
                    known[name](element)
            ET.SubElement(propstat, f"{{{DAV}}}status").text = f"HTTP/1.1 {status_line(status)}"
    body = ET.tostring(root, xml_declaration=True, encoding="utf-8")
    return send(start_response, 207, body, content_type="application/xml; charset=utf-8")


def requested_properties(body: bytes) -> list[str] | None:
    """The property names of a PROPFIND body (RFC 4918 14.20); None for allprop or no body."""
    if not body.strip():
        return None
    root = ET.fromstring(body)  # already checked by xmlguard: no DTD, bounded depth
    prop = root.find(f"{{{DAV}}}prop")
    if prop is None:
        return None
    return [child.tag for child in prop]
