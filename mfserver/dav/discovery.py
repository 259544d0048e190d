"""Finding calendars and address books from the bare host name.

Implementation notes:
- `/.well-known/caldav` and `/.well-known/carddav` (RFC 6764 5) answer 301 to /dav/ for every
  method: some clients PROPFIND the well-known address and break on 302.
- The server root answers an authenticated PROPFIND itself (RFC 5397 current-user-principal,
  RFC 4791 6.2.1 calendar-home-set, RFC 6352 7.1.1 addressbook-home-set, all pointing at the
  account's Radicale principal `/dav/<username>/`), and OPTIONS with the DAV classes, so a
  client given only "https://host/" finds everything. It runs behind the gate (login, XML and
  Depth checks) like the mounts.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from twisted.web import resource, server

from mfserver.dav.answers import (
    CALDAV,
    CARDDAV,
    DAV,
    StartResponse,
    collection_value,
    href_value,
    multistatus,
    requested_properties,
    send,
)
from mfserver.dav.gate import USER_KEY

DAV_CLASSES = "1, 2, 3, calendar-access, addressbook, extended-mkcol"
ROOT_METHODS = frozenset({"OPTIONS", "PROPFIND"})


class PermanentRedirect(resource.Resource):
    """301 to `location` for any method and any path below."""

    isLeaf = True

    def __init__(self, location: bytes) -> None:
        super().__init__()
        self._location = location

    def render(self, request: server.Request) -> bytes:
        request.setResponseCode(301)
        request.setHeader(b"Location", self._location)
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        return b"Moved to " + self._location + b"\n"


def well_known(dav_path: bytes = b"/dav/") -> resource.Resource:
    """The /.well-known/ resource with caldav and carddav (WKD and autoconfig come later)."""
    root = resource.Resource()
    for name in (b"caldav", b"carddav"):
        root.putChild(name, PermanentRedirect(dav_path))
    return root


def root_discovery(dav_path: str = "/dav") -> Any:
    """WSGI application answering PROPFIND and OPTIONS on the server root (behind the gate)."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"].upper() == "OPTIONS":
            return send(start_response, 200, b"", [("DAV", DAV_CLASSES),
                                                   ("Allow", ", ".join(sorted(ROOT_METHODS)))])
        principal = f"{dav_path}/{environ[USER_KEY]}/"
        known = {
            f"{{{DAV}}}current-user-principal": href_value(principal),
            f"{{{DAV}}}principal-URL": href_value(principal),
            f"{{{CALDAV}}}calendar-home-set": href_value(principal),
            f"{{{CARDDAV}}}addressbook-home-set": href_value(principal),
            f"{{{DAV}}}resourcetype": collection_value,
        }
        asked = requested_properties(environ["wsgi.input"].read())
        return multistatus(start_response, [("/", known)], asked)

    return app
