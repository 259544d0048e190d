"""Radicale (CalDAV, RFC 4791; CardDAV, RFC 6352) mounted at /dav/, and each account's
default calendar and address book.

Implementation notes:
- Radicale is configured in code, never from its own files: filesystem storage under
  `DATA/dav` (0700), rights `owner_only` (an account reaches only `/dav/<username>/...`;
  public share links are served apart, by `mfserver.dav.shares_app`, straight from storage),
  no web UI, no login cache of its own, no failure delay (the gate's throttle does that).
- Radicale never checks a password: the gate has logged the request in and put the username
  in the WSGI environ; `GateAuth` hands that to Radicale as an external login, proved by a
  per-process random token that no client can send (it is not in any header).
- `provision_calendars()` creates `/<username>/`, `/<username>/calendar/` and
  `/<username>/contacts/` when missing, under Radicale's storage lock (a file lock, so the
  `mfserver` command and the running server can both do it). It never touches existing ones.
- Radicale logs client addresses and request lines at INFO; its logger is held at WARNING,
  and the gate removes the client address from the environ before Radicale sees it.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import shutil
from functools import lru_cache
from pathlib import Path
from typing import Any

import radicale
import radicale.auth
import radicale.config
import radicale.storage

from mfserver.dav.gate import USER_KEY

CALENDAR = "calendar"
CONTACTS = "contacts"
DEFAULT_COLLECTIONS = {
    CALENDAR: {"tag": "VCALENDAR", "D:displayname": "Calendar",
               "C:supported-calendar-component-set": "VEVENT,VTODO,VJOURNAL"},
    CONTACTS: {"tag": "VADDRESSBOOK", "D:displayname": "Contacts"},
}
_TOKEN = secrets.token_urlsafe(32)


class GateAuth(radicale.auth.BaseAuth):
    """The login the gate established, passed through; nothing else opens Radicale."""

    def get_external_login(self, environ: dict[str, Any]) -> tuple[()] | tuple[str, str]:
        user = environ.get(USER_KEY)
        return (user, _TOKEN) if user else ()

    def _login(self, login: str, password: str) -> str:
        return login if hmac.compare_digest(password, _TOKEN) else ""


def storage_folder(data_dir: Path) -> Path:
    return data_dir / "dav"


def radicale_configuration(data_dir: Path, max_item: int) -> Any:
    folder = storage_folder(data_dir)
    (folder / "collection-root").mkdir(mode=0o700, parents=True, exist_ok=True)
    configuration = radicale.config.load()
    configuration.update({
        "server": {"max_content_length": str(max_item)},
        "auth": {"type": GateAuth, "delay": "0", "cache_logins": "False"},
        "rights": {"type": "owner_only"},
        "storage": {"filesystem_folder": str(folder)},
        "web": {"type": "none"},
    }, "mfserver", privileged=True)
    logging.getLogger("radicale").setLevel(logging.WARNING)
    return configuration


def make_radicale_app(data_dir: Path, max_item: int) -> radicale.Application:
    return radicale.Application(radicale_configuration(data_dir, max_item))


@lru_cache(maxsize=8)
def _storage(data_dir: Path) -> Any:
    return radicale.storage.load(radicale_configuration(data_dir, 0))


def open_storage(data_dir: Path) -> Any:
    """Radicale's storage for `data_dir` (one per process and directory)."""
    return _storage(Path(data_dir))


def provision_calendars(data_dir: Path, username: str) -> list[str]:
    """Create the account's principal, calendar and address book if missing; the names made."""
    storage = open_storage(data_dir)
    created = []
    with storage.acquire_lock("w", username):
        if not list(storage.discover(f"/{username}/", depth="0")):
            storage.create_collection(f"/{username}/")
        for name, props in DEFAULT_COLLECTIONS.items():
            href = f"/{username}/{name}/"
            if not list(storage.discover(href, depth="0")):
                storage.create_collection(href, props=dict(props))
                created.append(name)
    return created


def list_collections(data_dir: Path, username: str) -> dict[str, str]:
    """The account's collections: name -> tag ("VCALENDAR", "VADDRESSBOOK")."""
    storage = open_storage(data_dir)
    found = {}
    with storage.acquire_lock("r", username):
        for item in storage.discover(f"/{username}/", depth="1"):
            tag = getattr(item, "tag", None)
            path = getattr(item, "path", "")
            if tag and "/" in path:
                found[path.split("/", 1)[1]] = tag
    return found


def calendar_text(data_dir: Path, username: str, name: str) -> str | None:
    """The whole calendar as one iCalendar object (RFC 5545), or None if it is not one."""
    storage = open_storage(data_dir)
    with storage.acquire_lock("r", username):
        found = list(storage.discover(f"/{username}/{name}/", depth="0"))
        if not found or getattr(found[0], "tag", None) != "VCALENDAR":
            return None
        return found[0].serialize()


def destroy_calendars(data_dir: Path, username: str) -> None:
    """Remove every calendar and address book of the account."""
    storage = open_storage(data_dir)
    with storage.acquire_lock("w", username):
        shutil.rmtree(storage_folder(data_dir) / "collection-root" / username,
                      ignore_errors=True)
