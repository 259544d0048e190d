"""The maildir side of the store: folder directory names, unique file names, durable writes, scans.

Implementation notes:
- Layout is Maildir++: an account's INBOX is the account root (`cur/ new/ tmp/`), folder
  "Archive/2024" (IMAP delimiter "/") is the directory `.Archive.2024` beside them. Each name
  component is escaped: '.', '/', '%', control characters and DEL become %XX of their UTF-8
  bytes, everything else (Unicode included) is kept as UTF-8. The escaping is injective ('%'
  itself is escaped) and a directory name always starts with '.' and holds no '/', so no folder
  name can name a path outside the account root or collide with another folder.
- `folder_directory()` is the only way a folder name becomes a path; nothing joins a client's
  string into a path unescaped. Directories found on disk are adopted only if they are the
  canonical escaping of some valid name (`folder_name_of()`).
- Delivery follows the maildir protocol (cr.yp.to/proto/maildir.html): write into `tmp/`,
  fsync the file, rename into `new/` (or `cur/` with ':2,' flags), fsync the directory.
  Unique names: `SECONDS.M<usec>P<pid>Q<counter>R<random>.HOST,S=<size>` ('/' and ':' in the
  host escaped as \\057 and \\072, as the spec says).
- Files and directories are created private to the server's user (0600/0700).
- Nothing here touches the database.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import socket
import threading
import time
from pathlib import Path

from mfserver.store import flags as flagbits
from mfserver.store.errors import InvalidFolderName

INBOX = "INBOX"
DELIMITER = "/"
MAX_COMPONENT_BYTES = 255
MAX_DIRECTORY_BYTES = 255  # the whole Maildir++ name is one directory entry
TMP_MAX_AGE = 36 * 3600    # maildir spec: tmp files older than 36 hours may be removed
FILE_MODE = 0o600
DIR_MODE = 0o700
MAILDIR_SUBDIRS = ("cur", "new", "tmp")

_ESCAPED = set("./%") | {chr(c) for c in range(0x20)} | {"\x7f"}
_ESCAPE = re.compile(r"%([0-9A-F]{2})")
_STORED_FILENAME = re.compile(r"^(new|cur)/([^/\x00]+)$")


# -- folder names -----------------------------------------------------------------------------

def normalize_folder_name(name: str) -> str:
    """`name` checked and with a leading INBOX component in canonical case.

    Raises InvalidFolderName for an empty name or component, a leading or trailing '/',
    '.' or '..' components, NUL, and components over 255 bytes of UTF-8. Other control
    characters are allowed and escaped in the directory name.
    """
    if not isinstance(name, str) or not name:
        raise InvalidFolderName("folder name is empty")
    if "\x00" in name:
        raise InvalidFolderName("folder name contains NUL")
    if name.startswith(DELIMITER) or name.endswith(DELIMITER):
        raise InvalidFolderName(f"folder name starts or ends with {DELIMITER!r}: {name!r}")
    components = name.split(DELIMITER)
    for component in components:
        if component == "":
            raise InvalidFolderName(f"folder name has an empty component: {name!r}")
        if component in (".", ".."):
            raise InvalidFolderName(f"folder name has a {component!r} component: {name!r}")
        try:
            encoded = component.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidFolderName(f"folder name is not valid Unicode: {name!r}") from exc
        if len(encoded) > MAX_COMPONENT_BYTES:
            raise InvalidFolderName(f"folder name component over {MAX_COMPONENT_BYTES} bytes")
    if components[0].upper() == INBOX:
        components[0] = INBOX
    return DELIMITER.join(components)


def is_inbox(name: str) -> bool:
    return name.upper() == INBOX


def parent_names(name: str) -> list[str]:
    """The superior names of `name`, outermost first: 'a/b/c' -> ['a', 'a/b']."""
    components = name.split(DELIMITER)
    return [DELIMITER.join(components[:i]) for i in range(1, len(components))]


def escape_component(component: str) -> str:
    out = []
    for ch in component:
        if ch in _ESCAPED:
            out.extend(f"%{byte:02X}" for byte in ch.encode("utf-8"))
        else:
            out.append(ch)
    return "".join(out)


def unescape_component(escaped: str) -> str:
    # only ASCII characters are ever escaped, so each %XX is one character
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), escaped)


def folder_directory(name: str) -> str:
    """The directory (relative to the account root) of the folder `name`; '' for INBOX."""
    name = normalize_folder_name(name)
    if name == INBOX:
        return ""
    directory = "." + ".".join(escape_component(c) for c in name.split(DELIMITER))
    if len(directory.encode("utf-8")) > MAX_DIRECTORY_BYTES:
        raise InvalidFolderName("folder name is too long")
    return directory


def folder_name_of(directory: str) -> str | None:
    """The folder name whose canonical directory is `directory`, or None if there is none."""
    if not directory.startswith(".") or directory in (".", ".."):
        return None
    name = DELIMITER.join(unescape_component(part) for part in directory[1:].split("."))
    try:
        if folder_directory(name) != directory:
            return None
    except InvalidFolderName:
        return None
    return normalize_folder_name(name)


# -- paths -------------------------------------------------------------------------------------

def account_root(mail_root: Path, maildir: str) -> Path:
    """The account's maildir root: `mail_root/maildir`, refusing anything that leaves mail_root."""
    parts = maildir.split("/")
    if (not maildir or maildir.startswith("/") or "\x00" in maildir
            or any(part in ("", ".", "..") or part.startswith(".") for part in parts)):
        raise ValueError(f"account maildir is not a plain relative path: {maildir!r}")
    return Path(mail_root, *parts)


def message_file(folder_path: Path, filename: str) -> Path:
    """The path of an index row's `filename` ('new/KEY' or 'cur/KEY:2,FLAGS')."""
    match = _STORED_FILENAME.match(filename)
    if not match or match.group(2) in (".", ".."):
        raise ValueError(f"not a maildir file name: {filename!r}")
    return folder_path / filename


def key_of(name: str) -> str:
    """The unique part of a maildir file name (before ':')."""
    return name.split(":", 1)[0]


def filename_for(key: str, bits: int) -> str:
    """Where a new file goes: new/ when it has no flags, else cur/ with its info letters."""
    if not bits & flagbits.ALL:
        return f"new/{key}"
    return f"cur/{key}:2,{flagbits.to_maildir_info(bits)}"


def flags_of_filename(filename: str) -> int:
    """The flag bits in a file name's ':2,' info (0 for new/ and for names without info)."""
    _, _, info = filename.partition(":2,")
    return flagbits.from_maildir_info(info) if info else 0


# -- unique names ------------------------------------------------------------------------------

_counter = itertools.count(1)
_counter_lock = threading.Lock()


def _host() -> str:
    return socket.gethostname().replace("/", "\\057").replace(":", "\\072") or "localhost"


def unique_name(size: int, now: float | None = None) -> str:
    """A maildir unique name for a file of `size` bytes."""
    now = time.time() if now is None else now
    with _counter_lock:
        count = next(_counter)
    seconds = int(now)
    micros = int((now - seconds) * 1_000_000)
    return (f"{seconds}.M{micros}P{os.getpid()}Q{count}R{os.urandom(8).hex()}"
            f".{_host()},S={size}")


# -- durable writes ----------------------------------------------------------------------------

def fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_maildir(path: Path) -> None:
    """Create `path` with cur/ new/ tmp/ (existing parts are kept), durably."""
    created = not path.is_dir()
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    for sub in MAILDIR_SUBDIRS:
        (path / sub).mkdir(mode=DIR_MODE, exist_ok=True)
    if created:
        fsync_directory(path)
        fsync_directory(path.parent)


def mark_subfolder(path: Path) -> None:
    """Write the empty `maildirfolder` file that Maildir++ readers expect in subfolders."""
    marker = path / "maildirfolder"
    if not marker.exists():
        marker.touch(mode=FILE_MODE)


def write_tmp(folder_path: Path, data: bytes, mtime: float | None = None) -> tuple[str, Path]:
    """Write `data` to a new file in tmp/, set its mtime, fsync it. Returns (key, path)."""
    key = unique_name(len(data))
    path = folder_path / "tmp" / key
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if mtime is not None:
            os.utime(fd, (mtime, mtime))
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        remove_quietly(path)
        raise
    os.close(fd)
    return key, path


def place_copy(source: Path, folder_path: Path, bits: int) -> str:
    """Put a copy of the message file `source` into the folder; returns its 'new/..' or
    'cur/..' name. A hard link when the file system allows it (message files are never
    changed in place), else a copy written through tmp/ and fsynced."""
    key = unique_name(source.stat().st_size)
    filename = filename_for(key, bits)
    target = folder_path / filename
    try:
        os.link(source, target)
    except FileNotFoundError:
        raise
    except OSError:  # EXDEV, EPERM, EMLINK: copy instead
        tmp = folder_path / "tmp" / key
        try:
            shutil.copyfile(source, tmp)
            os.chmod(tmp, FILE_MODE)
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, target)
        except BaseException:
            remove_quietly(tmp)
            raise
    return filename


def remove_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


# -- scanning ----------------------------------------------------------------------------------

def scan(folder_path: Path) -> dict[str, str]:
    """{key: 'new/NAME' | 'cur/NAME'} of the message files in new/ and cur/.

    Names starting with '.' are ignored (maildir spec). A key seen in both new/ and cur/ (a
    move by another program caught half-way) is reported in cur/.
    """
    found: dict[str, str] = {}
    for sub in ("new", "cur"):
        try:
            entries = os.scandir(folder_path / sub)
        except FileNotFoundError:
            continue
        with entries:
            for entry in entries:
                if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
                    continue
                if not _utf8(entry.name):  # cannot be stored in the index; left alone
                    continue
                found[key_of(entry.name)] = f"{sub}/{entry.name}"
    return found


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def find_key(folder_path: Path, key: str) -> str | None:
    """The current 'new/..' or 'cur/..' name of the file with `key`, if it exists."""
    if (folder_path / "new" / key).is_file():
        return f"new/{key}"
    try:
        with os.scandir(folder_path / "cur") as entries:
            for entry in entries:
                if key_of(entry.name) == key:
                    return f"cur/{entry.name}"
    except FileNotFoundError:
        pass
    return None


def clean_tmp(folder_path: Path, now: float, max_age: float = TMP_MAX_AGE) -> int:
    """Remove files in tmp/ not touched for `max_age` seconds; returns how many."""
    removed = 0
    try:
        entries = os.scandir(folder_path / "tmp")
    except FileNotFoundError:
        return 0
    with entries:
        for entry in entries:
            try:
                stat = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if entry.is_file(follow_symlinks=False) and now - stat.st_mtime > max_age:
                remove_quietly(Path(entry.path))
                removed += 1
    return removed


def folder_directories(root: Path) -> list[str]:
    """Names of the Maildir++ subfolder directories in an account root (those with cur/)."""
    result = []
    with os.scandir(root) as entries:
        for entry in entries:
            if (entry.name.startswith(".") and entry.name not in (".", "..")
                    and entry.is_dir(follow_symlinks=False)
                    and os.path.isdir(os.path.join(entry.path, "cur"))):
                result.append(entry.name)
    return result
