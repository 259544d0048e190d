"""The HTTPS site: the front page, CalDAV/CardDAV at /dav/, WebDAV at /files/, share links at
/s/, discovery at / and /.well-known/ (WKD and the portal mount here later); and the plain-HTTP
site that only redirects to it.

Implementation notes:
- Every HTTPS response carries HSTS, a strict Content-Security-Policy, nosniff and no-referrer.
- The access log holds method, path (never the query string) and status: no user agent, no
  referrer, and the client address only when `[privacy] log_client_ip` is on. Share links are
  logged as "/s/…" without the client address whatever that setting says: the token is a
  secret, and who opened a shared link is nobody's business.
- Request bodies are bounded (`max_body`, `[dav] max_upload`): twisted.web buffers a whole
  body before any resource sees it, so the limit is enforced while it arrives. A declared
  Content-Length over the limit, or a chunked body that grows past it, is answered 413 and
  the connection closed; the resource is never called.
- The plain-HTTP site answers 301 to the same path on https://hostname (RFC 6797 7.2: no
  HSTS header over plain HTTP).
"""

from __future__ import annotations

from typing import Any

from twisted.web import resource, server

from mfserver.logs import peer

SHARE_PREFIX = b"/s/"

SECURITY_HEADERS = {
    b"Strict-Transport-Security": b"max-age=31536000",
    b"Content-Security-Policy": b"default-src 'none'; style-src 'self'; img-src 'self'; "
                                b"frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    b"X-Content-Type-Options": b"nosniff",
    b"Referrer-Policy": b"no-referrer",
}


class FrontPage(resource.Resource):
    """The root: a page for browsers; PROPFIND and OPTIONS go to `discovery` (CalDAV/CardDAV
    clients given only the host name start here)."""

    isLeaf = False

    def __init__(self, hostname: str, discovery: resource.Resource | None = None) -> None:
        super().__init__()
        self._hostname = hostname
        self._discovery = discovery

    def render(self, request: server.Request) -> Any:
        if self._discovery is not None and request.method in (b"PROPFIND", b"OPTIONS"):
            return self._discovery.render(request)
        return super().render(request)

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
    who = peer(request.getClientAddress())
    if request.path and request.path.startswith(SHARE_PREFIX):
        path, who = "/s/\u2026", "-"
    return f'{who} "{method} {path}" {request.code} {request.sentLength}'


class LimitedRequest(server.Request):
    """A request whose body may not exceed the site's `max_body` (0: no limit)."""

    _refused = False
    _received = 0

    def _limit(self) -> int:
        return getattr(self.channel.site, "max_body", 0) if self.channel else 0

    def gotLength(self, length: int | None) -> None:
        limit = self._limit()
        if limit and length is not None and length > limit:
            self._refuse()
        super().gotLength(0 if self._refused else length)

    def handleContentChunk(self, data: bytes) -> None:
        if self._refused:
            return
        self._received += len(data)
        limit = self._limit()
        if limit and self._received > limit:
            self._refuse()
            return
        super().handleContentChunk(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        if not self._refused:
            super().requestReceived(command, path, version)

    def _refuse(self) -> None:
        """413 (RFC 9110 15.5.14) and close: the rest of the body is never read."""
        self._refused = True
        text = b"Request body too large\n"
        self.channel.transport.write(
            b"HTTP/1.1 413 Content Too Large\r\nConnection: close\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(text), text))
        self.channel.loseConnection()


class Site(server.Site):
    """twisted.web's Site with our headers, a bounded body and a log line that identifies
    nobody."""

    requestFactory = LimitedRequest

    def __init__(self, root: resource.Resource, max_body: int = 0, secure: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(root, logFormatter=_access_line, **kwargs)
        self.max_body = max_body
        self._headers = SECURITY_HEADERS if secure else {}

    def getResourceFor(self, request: server.Request) -> resource.Resource:
        for name, value in self._headers.items():
            request.setHeader(name, value)
        return super().getResourceFor(request)


def make_site(hostname: str, dav: Any = None, max_body: int = 0) -> Site:
    """The HTTPS site; `dav` is an `mfserver.dav.mount.DavMount` (None: the front page only)."""
    front = FrontPage(hostname, dav.discovery if dav is not None else None)
    if dav is not None:
        from mfserver.dav.discovery import well_known

        front.putChild(b"dav", dav.calendars)
        front.putChild(b"files", dav.files)
        front.putChild(b"s", dav.shares)
        front.putChild(b".well-known", well_known())
    return Site(front, max_body=max_body)


class ToHttps(resource.Resource):
    """Every request: 301 to the same path on the HTTPS listener."""

    isLeaf = True

    def __init__(self, hostname: str, https_port: int) -> None:
        super().__init__()
        port = "" if https_port == 443 else f":{https_port}"
        self._base = f"https://{hostname}{port}".encode("ascii")

    def render(self, request: server.Request) -> bytes:
        location = self._base + (request.uri if request.uri.startswith(b"/") else b"/")
        request.setResponseCode(301)
        request.setHeader(b"Location", location)
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        return b"Moved to " + location + b"\n"


def make_redirect_site(hostname: str, https_port: int) -> server.Site:
    """The plain-HTTP site: nothing but redirects, with a body limit of zero bytes."""
    return Site(ToHttps(hostname, https_port), max_body=1, secure=False)
