"""Documents: one WsgiDAV filesystem provider per account under `DATA/files/<username>`,
atomic writes, and the account's quota.

Implementation notes:
- Isolation is structural: each account is its own WsgiDAV share `/files/<username>` (the
  mount is part of the share's name: WsgiDAV matches a Destination by its full path), so WsgiDAV
  resolves every path and every Destination inside one provider's root, and refuses a COPY
  or MOVE to another share. The gate in front (`files_scope`) also refuses any request or
  Destination outside the logged-in account's own share, and answers the root `/files/`
  itself, so nobody can list the shares (which would list the usernames).
- WsgiDAV's provider resolves paths with `realpath` against the root and refuses symlinks
  (`follow_symlinks` is off): a link planted inside a tree leads nowhere.
- A PUT writes to a hidden temporary file in the same folder, fsyncs it and renames it over
  the target only when the whole body was written: a cut-off or refused upload leaves the
  old file (or nothing) behind, never half a file. A new file that WsgiDAV created empty
  before the write is removed again if the write fails. Temporary names are hidden from
  listings and cannot be addressed.
- Quota (`[store] default_quota`, per account): documents count together with mail. Before
  and while a PUT or COPY is written, the account's mail bytes plus the size of its files
  tree plus the new bytes must stay within the quota, else 507 Insufficient Storage
  (RFC 4918 11.5). The tree is measured at each write (no counter to drift).
"""

from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from wsgidav.dav_error import HTTP_FORBIDDEN, HTTP_INSUFFICIENT_STORAGE, DAVError
from wsgidav.dc.base_dc import BaseDomainController
from wsgidav.fs_dav_provider import FileResource, FilesystemProvider, FolderResource
from wsgidav.prop_man.property_manager import ShelvePropertyManager
from wsgidav.wsgidav_app import WsgiDAVApp

from mfserver.accounts import Directory
from mfserver.dav.answers import collection_value, multistatus, redirect, requested_properties, send
from mfserver.dav.gate import USER_KEY, unsafe_path

TEMPORARY_PREFIX = ".~mfserver-"
CREATED_KEY = "mfserver.files.created"
BLOCK_SIZE = 256 * 1024


def files_root(data_dir: Path) -> Path:
    return data_dir / "files"


def account_root(data_dir: Path, username: str) -> Path:
    return files_root(data_dir) / username


def provision_files(data_dir: Path, username: str) -> Path:
    """The account's documents folder (0700), created when missing."""
    files_root(data_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
    root = account_root(data_dir, username)
    root.mkdir(mode=0o700, exist_ok=True)
    return root


def tree_size(root: Path | str) -> int:
    """Bytes of the regular files under `root` (symlinks not followed)."""
    total = 0
    stack = [str(root)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            elif entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_size
    return total


class Quota:
    """How many more bytes an account may store (None: no limit)."""

    def __init__(self, directory: Directory) -> None:
        self._directory = directory

    def allowance(self, account_id: int, root: Path | str) -> int | None:
        account = self._directory.get_account_by_id(account_id)
        if not account.quota_bytes:
            return None
        return account.quota_bytes - account.used_bytes - tree_size(root)


class AtomicFile:
    """A file written beside `path` and renamed over it by `commit()` (durable), or removed
    by `discard()`. `write()` raises QuotaExceeded past `allowance` bytes (None: no limit)."""

    def __init__(self, path: Path | str, allowance: int | None) -> None:
        self.path = str(path)
        folder, name = os.path.split(self.path)
        self.temporary = os.path.join(folder, f"{TEMPORARY_PREFIX}{secrets.token_hex(8)}")
        self._allowance = allowance
        self.written = 0
        self._handle = open(self.temporary, "xb")  # noqa: SIM115 - closed by close/discard

    def write(self, data: bytes) -> int:
        self.written += len(data)
        if self._allowance is not None and self.written > self._allowance:
            raise QuotaExceeded()
        return self._handle.write(data)

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()

    def commit(self) -> None:
        self.close()
        os.replace(self.temporary, self.path)
        folder = os.open(os.path.dirname(self.path), os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)

    def discard(self) -> None:
        self._handle.close()
        try:
            os.unlink(self.temporary)
        except FileNotFoundError:
            pass


class QuotaExceeded(DAVError):
    def __init__(self) -> None:
        super().__init__(HTTP_INSUFFICIENT_STORAGE, "The account's quota is exhausted")


class AccountFile(FileResource):
    """A document: writes are atomic and within the quota."""

    provider: AccountFiles
    _pending: AtomicFile | None = None

    def begin_write(self, *, content_type: str | None = None) -> AtomicFile:
        allowance = self.provider.allowance()
        if allowance is not None:
            allowance += self.file_stat.st_size  # the old content is replaced
            if int(self.environ.get("CONTENT_LENGTH") or 0) > allowance:
                raise QuotaExceeded()
        self._pending = AtomicFile(self._file_path, allowance)
        return self._pending

    def end_write(self, *, with_errors: bool) -> None:
        pending, self._pending = self._pending, None
        if pending is not None and not with_errors:
            pending.commit()
            self.file_stat = os.stat(self._file_path)
            return
        if pending is not None:
            pending.discard()
        if self.environ.get(CREATED_KEY) == self._file_path:
            os.unlink(self._file_path)

    def copy_move_single(self, dest_path: str, *, is_move: bool) -> None:
        if not is_move:
            allowance = self.provider.allowance()
            if allowance is not None and self.file_stat.st_size > allowance:
                raise QuotaExceeded()
        super().copy_move_single(dest_path, is_move=is_move)


class AccountFolder(FolderResource):
    provider: AccountFiles

    def get_member_names(self) -> list[str]:
        return [name for name in super().get_member_names()
                if not name.startswith(TEMPORARY_PREFIX)]

    def create_empty_resource(self, name: str) -> Any:
        allowance = self.provider.allowance()
        if allowance is not None and int(self.environ.get("CONTENT_LENGTH") or 0) > allowance:
            raise QuotaExceeded()
        resource = super().create_empty_resource(name)
        self.environ[CREATED_KEY] = resource._file_path
        return resource


class AccountFiles(FilesystemProvider):
    """The documents of one account."""

    def __init__(self, root: Path, account_id: int, quota: Quota) -> None:
        super().__init__(str(root), readonly=False, fs_opts={"follow_symlinks": False})
        self.account_id = account_id
        self._quota = quota

    def allowance(self) -> int | None:
        return self._quota.allowance(self.account_id, self.root_folder_path)

    def get_resource_inst(self, path: str, environ: dict[str, Any]) -> Any:
        if TEMPORARY_PREFIX in path:
            return None
        file_path = self._loc_to_file_path(path, environ)
        if not os.path.exists(file_path):
            return None
        if os.path.islink(file_path):
            raise DAVError(HTTP_FORBIDDEN, "Symbolic links are not served")
        if os.path.isdir(file_path):
            return AccountFolder(path, environ, file_path)
        return AccountFile(path, environ, file_path)


class GateDomainController(BaseDomainController):
    """Trusts the login the gate established (WsgiDAV's `trusted_auth_header` is the environ
    key USER_KEY, which no HTTP header can produce); refuses everything else."""

    def get_domain_realm(self, path_info: str, environ: dict[str, Any] | None) -> str:
        return "mfserver"

    def require_authentication(self, realm: str, environ: dict[str, Any] | None) -> bool:
        return True

    def basic_auth_user(self, realm: str, user_name: str, password: str,
                        environ: dict[str, Any]) -> bool:
        return False

    def supports_http_digest_auth(self) -> bool:
        return False


class FilesApp:
    """WsgiDAV with one share per account, added the first time the account logs in."""

    def __init__(self, data_dir: Path, directory: Directory, mount_path: str = "/files") -> None:
        self.data_dir = data_dir
        self.mount_path = mount_path
        self._quota = Quota(directory)
        self._lock = threading.Lock()
        props = data_dir / "dav" / "document-properties"
        props.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.app = WsgiDAVApp({
            "provider_mapping": {},
            "http_authenticator": {
                "domain_controller": GateDomainController,
                "accept_basic": True, "accept_digest": False, "default_to_digest": False,
                "trusted_auth_header": USER_KEY,
            },
            "property_manager": ShelvePropertyManager(str(props)),
            "lock_storage": True,
            "dir_browser": {"enable": False},
            # each block of a GET is one hop to the reactor thread: fewer, larger blocks
            "block_size": BLOCK_SIZE,
            "suppress_version_info": True,
            "verbose": 1,
            "logging": {"enable": False},
        })

    def ensure_share(self, username: str, account_id: int) -> None:
        share = f"{self.mount_path}/{username}"
        if share in self.app.provider_map:
            return
        with self._lock:
            if share not in self.app.provider_map:
                root = provision_files(self.data_dir, username)
                self.app.add_provider(share, AccountFiles(root, account_id, self._quota))

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        # WsgiDAV resolves a Destination header by its full path, so it is given the full
        # path too (its shares are named /files/<username>), not SCRIPT_NAME + PATH_INFO.
        environ["PATH_INFO"] = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        environ["SCRIPT_NAME"] = ""
        return self.app(environ, start_response)


def _inside(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def files_scope(files: FilesApp) -> Any:
    """The gate's scope check for /files/: the account's own share only, Destination
    included; the root answered here (redirect, or a listing of the account's own share)."""

    def authorize(environ: dict[str, Any], avatar: Any, start_response: Any) -> Any:
        username = avatar.username
        files.ensure_share(username, avatar.account_id)
        mount = environ.get("SCRIPT_NAME", "").rstrip("/")
        path = environ.get("PATH_INFO", "")
        method = environ["REQUEST_METHOD"].upper()
        own = f"{mount}/{username}/"
        if path.strip("/") == "":
            if method in ("GET", "HEAD"):
                return redirect(start_response, own)
            if method == "PROPFIND":
                listing = [(f"{mount}/", {"{DAV:}resourcetype": collection_value})]
                if environ.get("HTTP_DEPTH", "").strip() == "1":
                    listing.append((own, {"{DAV:}resourcetype": collection_value}))
                return multistatus(start_response, listing,
                                   requested_properties(environ["wsgi.input"].read()))
            if method == "OPTIONS":
                return None
            return send(start_response, 403, "The root holds only your own folder")
        if path.strip("/").split("/", 1)[0].lower() != username:
            return send(start_response, 403, "Not your folder")
        destination = environ.get("HTTP_DESTINATION")
        if destination:
            parts = urlsplit(destination)
            if parts.netloc and parts.netloc.lower() != environ.get("HTTP_HOST", "").lower():
                return send(start_response, 502, "Destination is on another server")
            target = unquote(parts.path)
            if unsafe_path(target) or not _inside(target.rstrip("/").lower(),
                                                  own.rstrip("/")):
                return send(start_response, 403, "Destination is outside your folder")
        return None

    return authorize
