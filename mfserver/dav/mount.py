"""Putting the DAV applications together: one gate each, one thread pool each.

Implementation notes:
- Radicale (/dav/), WsgiDAV (/files/), and the share links with root discovery (/s/ and
  PROPFIND /) each run in their own ThreadPool of `[dav] threads`: a slow calendar REPORT
  never takes a thread from document transfers, and none of them uses the reactor's default
  pool (which does name resolution) or the blocking pool of logins and the database.
- One `DavLogin` (one login cache) serves all of them: a client logged in for calendars is
  also logged in for documents.
- `provision_account()` is what account creation calls (through `Runtime.provision`):
  the default calendar, the default address book and the documents folder.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twisted.python.threadpool import ThreadPool
from twisted.web.wsgi import WSGIResource

from mfserver.auth import Throttle
from mfserver.dav import calendars, files
from mfserver.dav.discovery import ROOT_METHODS, root_discovery
from mfserver.dav.gate import Gate
from mfserver.dav.login import DavLogin
from mfserver.dav.sharebook import ShareBook
from mfserver.dav.shares_app import ShareServer

CALDAV_METHODS = frozenset({"OPTIONS", "GET", "HEAD", "PUT", "DELETE", "PROPFIND", "PROPPATCH",
                            "REPORT", "MKCOL", "MKCALENDAR", "MOVE"})
WEBDAV_METHODS = frozenset({"OPTIONS", "GET", "HEAD", "PUT", "DELETE", "PROPFIND", "PROPPATCH",
                            "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK"})
SHARE_METHODS = frozenset({"GET", "HEAD", "PUT"})


@dataclass
class DavMount:
    """What the HTTPS site mounts, and the pools the service starts and stops."""

    calendars: WSGIResource
    files: WSGIResource
    shares: WSGIResource
    discovery: WSGIResource
    pools: list[ThreadPool]


def provision_account(data_dir: Path, username: str) -> None:
    """The account's default calendar and address book, and its documents folder."""
    calendars.provision_calendars(data_dir, username)
    files.provision_files(data_dir, username)


def destroy_account(data_dir: Path, username: str) -> None:
    """Remove the account's calendars, address books and documents."""
    calendars.destroy_calendars(data_dir, username)
    shutil.rmtree(files.account_root(data_dir, username), ignore_errors=True)


def make_dav(runtime: Any, portal: Any, throttle: Throttle, reactor: Any) -> DavMount:
    settings = runtime.settings
    data_dir = settings.data_dir
    limits = settings.dav
    login = DavLogin(portal, reactor, limits.login_cache)
    pools = [ThreadPool(minthreads=0, maxthreads=limits.threads, name=f"mfserver-{name}")
             for name in ("caldav", "webdav", "shares")]

    caldav = Gate(calendars.make_radicale_app(data_dir, limits.max_xml), login,
                  methods=CALDAV_METHODS, max_xml=limits.max_xml, max_body=limits.max_xml)
    documents = files.FilesApp(data_dir, runtime.directory)
    webdav = Gate(documents, login, methods=WEBDAV_METHODS, max_xml=limits.max_xml,
                  authorize=files.files_scope(documents))
    shares = ShareServer(ShareBook(runtime.database, runtime.directory), login, throttle,
                         data_dir, files.Quota(runtime.directory))
    discovery = Gate(root_discovery(), login, methods=ROOT_METHODS, max_xml=limits.max_xml)
    return DavMount(WSGIResource(reactor, pools[0], caldav),
                    WSGIResource(reactor, pools[1], webdav),
                    WSGIResource(reactor, pools[2], shares),
                    WSGIResource(reactor, pools[2], discovery), pools)
