"""The WSGI gate in front of every DAV application: bounds, hostile input, and the login.

Implementation notes:
- Order: method (unknown 501, not offered here 405), path (no `.` or `..` segment, no NUL:
  400, so no percent-encoded form of `..` reaches an application), body (size and XML, see
  below), Depth, then the login. Only a request that passed all of it reaches the application.
- twisted.web has read the whole body before a WSGI application runs (the Site refuses one
  over `[dav] max_upload` with 413 while it arrives). A chunked body is given a
  Content-Length here and loses its Transfer-Encoding, so the applications see one shape.
- Bodies of XML methods are XML (another declared Content-Type: 415, RFC 4918 9.3), at most
  `[dav] max_xml` (413), and pass `xmlguard.check_xml` (400): no DTD, so no entity
  expansion, and bounded depth. The application parses the same bytes again.
- PROPFIND with `Depth: infinity`, or with no Depth (which means infinity, RFC 4918 9.1), is
  refused with 403 and the `propfind-finite-depth` precondition.
- The login goes through `DavLogin` (the portal, with its throttle). The account's username is
  put in `environ[USER_KEY]`, a key that no HTTP header can produce (headers become HTTP_*),
  and the Authorization header and the client address are removed: the applications never
  see the password nor the visitor's address.
- `authorize(environ, avatar, start_response)` is the mount's own scope check (WsgiDAV: the
  path and the Destination must be the account's own share); it answers, or returns None.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

from mfserver.auth import AccountAvatar
from mfserver.dav.answers import StartResponse, dav_error, send
from mfserver.dav.login import DavLogin, Refusal
from mfserver.dav.xmlguard import XmlRefused, check_xml

USER_KEY = "mfserver.dav.user"
ACCOUNT_KEY = "mfserver.dav.account"
XML_METHODS = frozenset({"PROPFIND", "PROPPATCH", "REPORT", "LOCK", "MKCOL", "MKCALENDAR"})
HTTP_METHODS = frozenset({
    "OPTIONS", "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "TRACE", "CONNECT",
    "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "REPORT",
    "MKCALENDAR", "ACL", "SEARCH", "BIND", "UNBIND", "REBIND", "MKWORKSPACE",
    "VERSION-CONTROL", "CHECKIN", "CHECKOUT", "UNCHECKOUT", "MERGE", "LABEL", "UPDATE",
    "ORDERPATCH", "MKACTIVITY", "BASELINE-CONTROL", "MKREDIRECTREF", "UPDATEREDIRECTREF",
})

WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
Authorize = Callable[[dict[str, Any], AccountAvatar, StartResponse], "list[bytes] | None"]


def unsafe_path(path: str) -> bool:
    """True when a decoded path has a `.` or `..` segment or a NUL character."""
    return "\0" in path or any(segment in (".", "..") for segment in path.split("/"))


def body_length(environ: dict[str, Any]) -> int:
    """The request body's size, set as CONTENT_LENGTH (chunked bodies are already read)."""
    length = environ.get("CONTENT_LENGTH")
    if length:
        return int(length)
    stream = getattr(environ["wsgi.input"], "_wrapped", None)  # twisted.web.wsgi._InputStream
    size = 0
    if stream is not None and hasattr(stream, "seek"):
        position = stream.tell()
        size = stream.seek(0, 2) - position
        stream.seek(position)
    environ["CONTENT_LENGTH"] = str(size)
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    return size


def read_body(environ: dict[str, Any], length: int) -> bytes:
    """Read the (bounded) body and put an equal stream back for the application."""
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


class Gate:
    """WSGI middleware: bounds and login in front of `app`."""

    def __init__(self, app: WSGIApp, login: DavLogin, *, methods: frozenset[str],
                 max_xml: int, max_body: int = 0, authorize: Authorize | None = None) -> None:
        self._app = app
        self._login = login
        self._methods = methods
        self._max_xml = max_xml
        self._max_body = max_body
        self._authorize = authorize

    def __call__(self, environ: dict[str, Any], start_response: StartResponse
                 ) -> Iterable[bytes]:
        refused = self._refuse_request(environ, start_response)
        if refused is not None:
            return refused
        try:
            avatar = self._login.authenticate(environ.get("HTTP_AUTHORIZATION"),
                                              environ.get("REMOTE_ADDR") or None)
        except Refusal as refusal:
            return send(start_response, refusal.status, refusal.text, refusal.headers)
        environ.pop("HTTP_AUTHORIZATION", None)
        environ.pop("REMOTE_ADDR", None)
        environ.pop("REMOTE_HOST", None)
        environ[USER_KEY] = avatar.username
        environ[ACCOUNT_KEY] = avatar
        if self._authorize is not None:
            answer = self._authorize(environ, avatar, start_response)
            if answer is not None:
                return answer
        return self._app(environ, start_response)

    def _refuse_request(self, environ: dict[str, Any], start_response: StartResponse
                        ) -> list[bytes] | None:
        method = environ["REQUEST_METHOD"].upper()
        if method not in HTTP_METHODS:
            return send(start_response, 501, f"Method {method} is not implemented")
        if method not in self._methods:
            return send(start_response, 405, f"Method {method} is not allowed here",
                        [("Allow", ", ".join(sorted(self._methods)))])
        if unsafe_path(environ.get("PATH_INFO", "")):
            return send(start_response, 400, "Invalid path")
        length = body_length(environ)
        if method in XML_METHODS and length:
            content_type = environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
            if content_type and not content_type.endswith(("/xml", "+xml")):
                return send(start_response, 415, f"{method} takes an XML body")
            if length > self._max_xml:
                return send(start_response, 413, "XML request body too large")
            try:
                check_xml(read_body(environ, length))
            except XmlRefused as exc:
                return send(start_response, 400, str(exc))
        elif self._max_body and length > self._max_body:
            return send(start_response, 413, "Request body too large")
        if method == "PROPFIND" and environ.get("HTTP_DEPTH", "infinity").strip().lower() \
                == "infinity":
            return dav_error(start_response, 403, "propfind-finite-depth")
        return None
