"""The public side of share links: `/s/<token>` serves one calendar (.ics), one document, a
folder (read-only), or takes uploads into a folder (drop box).

Implementation notes:
- Every request looks its link up again (`ShareBook.find`): an unknown, disabled or expired
  token is 404 at once, and so is every path under it that does not resolve inside the
  shared target. 404 says nothing about why.
- A link with a password answers 401 with a Basic challenge; any username is accepted with
  the link's password. Failures count in the shared Throttle under the link's id (and the
  source address, in memory only); past it the answer is 429 with Retry-After. A link
  restricted to accounts wants the visitor's own login (through the portal, like DAV), and a
  logged-in account that is not on the list gets 404 like any stranger.
- Paths below a folder link are resolved on the filesystem with `realpath` and must stay
  inside the shared folder, which must stay inside the owner's files; symbolic links are
  never followed, hidden temporary upload files are never shown.
- Documents are sent as attachments (`Content-Disposition: attachment`, nosniff, and the
  site's CSP): a shared HTML file never runs in this origin.
- A drop box takes `PUT /s/<token>/<name>` only: a new file written atomically within the
  owner's quota; an existing name gets a numbered one, so a visitor learns nothing of what
  is there. It lists nothing and serves nothing.
- Neither this module nor the access log records the visitor's address or the token (the
  site logs share requests as "/s/…").
"""

from __future__ import annotations

import html
import mimetypes
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mfserver.accounts.passwords import verify_password
from mfserver.auth import Throttle
from mfserver.dav import calendars
from mfserver.dav.answers import StartResponse, redirect, send
from mfserver.dav.files import (
    TEMPORARY_PREFIX,
    AtomicFile,
    Quota,
    QuotaExceeded,
    account_root,
)
from mfserver.dav.gate import body_length, unsafe_path
from mfserver.dav.login import DavLogin, Refusal, basic_credentials, challenge
from mfserver.dav.sharebook import ShareBook, ShareRecord

REALM = "shared link"
CHUNK = 64 * 1024


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _file_chunks(path: str) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


class ShareServer:
    """WSGI application for /s/ (runs in its own thread pool)."""

    def __init__(self, book: ShareBook, login: DavLogin, throttle: Throttle, data_dir: Path,
                 quota: Quota) -> None:
        self._book = book
        self._login = login
        self._throttle = throttle
        self._data_dir = data_dir
        self._quota = quota

    def __call__(self, environ: dict[str, Any], start_response: StartResponse
                 ) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"].upper()
        token, slash, rest = environ.get("PATH_INFO", "").lstrip("/").partition("/")
        if token.endswith(".ics") and not slash:
            token = token[:-4]
        record = self._book.find(token) if token and not unsafe_path(rest) else None
        if record is None:
            return send(start_response, 404, "Not found")
        try:
            self._admit(record, environ)
        except Refusal as refusal:
            return send(start_response, refusal.status, refusal.text, refusal.headers)
        share = record.share
        if share.kind == "calendar":
            return self._calendar(record, method, rest, start_response)
        if share.mode == "dropbox":
            return self._dropbox(record, method, rest, environ, start_response)
        return self._read(record, method, token, slash, rest, start_response)

    def _admit(self, record: ShareRecord, environ: dict[str, Any]) -> None:
        share = record.share
        authorization = environ.get("HTTP_AUTHORIZATION")
        source = environ.get("REMOTE_ADDR") or None
        if share.allowed:
            avatar = self._login.authenticate(authorization, source, realm=REALM)
            if avatar.username not in share.allowed:
                raise Refusal(404, (), "Not found")
            return
        if record.password_hash is None:
            return
        key = f"share:{share.id}"
        wait = self._throttle.delay(key, source)
        if wait > 0:
            raise Refusal(429, (("Retry-After", str(max(1, int(wait + 0.999)))),),
                          "Too many wrong passwords; try again later")
        credentials = basic_credentials(authorization)
        if credentials is None:
            raise challenge(REALM)
        matched, _ = verify_password(credentials[1], record.password_hash)
        if not matched:
            self._throttle.failure(key, source)
            raise challenge(REALM, "Wrong password")
        self._throttle.success(key, source)

    def _calendar(self, record: ShareRecord, method: str, rest: str,
                  start_response: StartResponse) -> list[bytes]:
        if method not in ("GET", "HEAD"):
            return send(start_response, 405, "Read-only", [("Allow", "GET, HEAD")])
        text = None if rest else calendars.calendar_text(self._data_dir, record.share.username,
                                                          record.share.path)
        if text is None:
            return send(start_response, 404, "Not found")
        return send(start_response, 200, text.encode("utf-8"),
                    content_type="text/calendar; charset=utf-8")

    def _target(self, record: ShareRecord, rest: str) -> str | None:
        """The real path of `rest` under the shared target, or None if it leaves it."""
        root = os.path.realpath(account_root(self._data_dir, record.share.username))
        shared = os.path.join(root, *filter(None, record.share.path.split("/")))
        candidate = os.path.join(shared, *filter(None, rest.split("/")))
        if TEMPORARY_PREFIX in candidate or not os.path.lexists(candidate):
            return None
        real = os.path.realpath(candidate)
        if real != os.path.normpath(candidate) or not _inside(real, shared) \
                or not _inside(shared, root):
            return None  # a symbolic link somewhere on the way
        return real

    def _read(self, record: ShareRecord, method: str, token: str, slash: str, rest: str,
              start_response: StartResponse) -> Iterable[bytes]:
        if method not in ("GET", "HEAD"):
            return send(start_response, 405, "Read-only", [("Allow", "GET, HEAD")])
        target = self._target(record, rest)
        if target is None:
            return send(start_response, 404, "Not found")
        if os.path.isdir(target):
            if not slash or (rest and not rest.endswith("/")):
                return redirect(start_response, f"{quote(token)}/" if not slash
                                else f"{quote(rest.rsplit('/', 1)[-1])}/")
            return self._listing(target, start_response)
        if rest.endswith("/"):
            return send(start_response, 404, "Not found")
        name = os.path.basename(target)
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        start_response("200 OK", [
            ("Content-Length", str(os.path.getsize(target))), ("Content-Type", kind),
            ("Content-Disposition", f"attachment; filename*=UTF-8''{quote(name)}"),
        ])
        return _file_chunks(target)

    @staticmethod
    def _listing(folder: str, start_response: StartResponse) -> list[bytes]:
        rows = []
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if entry.name.startswith((".", TEMPORARY_PREFIX)) or entry.is_symlink():
                continue
            name = entry.name + ("/" if entry.is_dir() else "")
            rows.append(f'<li><a href="{quote(name)}">{html.escape(name)}</a></li>')
        page = ("<!doctype html><html lang=en><meta charset=utf-8><title>Shared folder</title>"
                f"<h1>Shared folder</h1><ul>{''.join(rows)}</ul></html>")
        return send(start_response, 200, page.encode("utf-8"),
                    content_type="text/html; charset=utf-8")

    def _dropbox(self, record: ShareRecord, method: str, rest: str,
                 environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        folder = self._target(record, "")
        if folder is None or not os.path.isdir(folder):
            return send(start_response, 404, "Not found")
        if method in ("GET", "HEAD") and not rest:
            return send(start_response, 200, "This is a drop box: upload a file with "
                        "PUT to this address followed by a file name.")
        if method != "PUT":
            return send(start_response, 405, "Upload only", [("Allow", "PUT")])
        name = rest.strip("/")
        if not name or "/" in name or name.startswith("."):
            return send(start_response, 400, "Upload to <link>/<file name>")
        length = body_length(environ)
        allowance = self._quota.allowance(record.share.account_id,
                                          account_root(self._data_dir, record.share.username))
        if allowance is not None and length > allowance:
            return send(start_response, 507, "The owner's storage is full")
        pending = AtomicFile(os.path.join(folder, name), allowance)
        try:
            stream = environ["wsgi.input"]
            while chunk := stream.read(CHUNK):
                pending.write(chunk)
            pending.close()
            pending.path = _free_name(folder, name)
            pending.commit()
        except QuotaExceeded:
            pending.discard()
            return send(start_response, 507, "The owner's storage is full")
        except BaseException:
            pending.discard()
            raise
        return send(start_response, 201, "Uploaded")


def _free_name(folder: str, name: str) -> str:
    """`name` in `folder`, or `name (2)`, `name (3)`… when taken (checked, not reserved)."""
    stem, dot, suffix = name.rpartition(".") if "." in name[1:] else (name, "", "")
    candidate = os.path.join(folder, name)
    number = 2
    while os.path.lexists(candidate):
        candidate = os.path.join(folder, f"{stem} ({number}){dot}{suffix}")
        number += 1
    return candidate
