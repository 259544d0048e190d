"""The HTTPS site: for now the front page; CalDAV/CardDAV, WebDAV, WKD and the portal mount here.

Implementation notes:
- Every response carries HSTS, a strict Content-Security-Policy, nosniff and no-referrer.
- The access log holds method, path (never the query string) and status: no user agent, no
  referrer, and the client address only when `[privacy] log_client_ip` is on.
"""

from __future__ import annotations

from typing import Any

from twisted.web import resource, server

from mfserver.logs import peer

SECURITY_HEADERS = {
    b"Strict-Transport-Security": b"max-age=31536000",
    b"Content-Security-Policy": b"default-src 'none'; style-src 'self'; img-src 'self'; "
                                b"frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    b"X-Content-Type-Options": b"nosniff",
    b"Referrer-Policy": b"no-referrer",
}


class FrontPage(resource.Resource):
    isLeaf = False

    def __init__(self, hostname: str) -> None:
        super().__init__()
        self._hostname = hostname

    def getChild(self, path: bytes, request: server.Request) -> resource.Resource:
        if path == b"":
            return self
        return resource.NoResource()

    def render_GET(self, request: server.Request) -> bytes:
        request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
        return (f"<!doctype html><html lang=en><meta charset=utf-8><title>{self._hostname}"
                f"</title><h1>{self._hostname}</h1><p>This is an mfserver mail server.</p>"
                "</html>").encode()

    def render_HEAD(self, request: server.Request) -> bytes:
        return self.render_GET(request)


def _access_line(_timestamp: str, request: server.Request) -> str:
    path = request.path.decode("ascii", "replace") if request.path else "-"
    method = request.method.decode("ascii", "replace") if request.method else "-"
    return f'{peer(request.getClientAddress())} "{method} {path}" {request.code} ' \
        f"{request.sentLength}"


class Site(server.Site):
    """twisted.web's Site with our headers and a log line that identifies nobody."""

    def __init__(self, root: resource.Resource, **kwargs: Any) -> None:
        super().__init__(root, logFormatter=_access_line, **kwargs)

    def getResourceFor(self, request: server.Request) -> resource.Resource:
        for name, value in SECURITY_HEADERS.items():
            request.setHeader(name, value)
        return super().getResourceFor(request)


def make_site(hostname: str) -> Site:
    return Site(FrontPage(hostname))
