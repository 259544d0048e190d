"""mbsync (isync) against the real server: a two-way sync between a local Maildir and the server
over IMAPS, with a folder tree, flags and deletions on both sides, run until it converges.

mbsync checks the certificate against the trustme CA and the host name "localhost" (it checks
DNS names only, not IP addresses). The password reaches it through `PassCmd` reading a 0600
file, never on a command line.
"""

from __future__ import annotations

import email
import os
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import imapclient
import pytest

from tests.imap.conftest import PASSWORD, IMAPServer

MBSYNC = shutil.which("mbsync")
pytestmark = pytest.mark.skipif(MBSYNC is None and not os.environ.get("CI"), reason="mbsync (Debian package isync) "
                                                       "is not installed")

USER = "alice"
FLAG_LETTERS = {"S": b"\\Seen", "F": b"\\Flagged", "R": b"\\Answered", "D": b"\\Draft",
                "T": b"\\Deleted"}

Snapshot = dict[str, dict[str, frozenset[bytes]]]  # folder -> subject -> flags


def message(subject: str) -> bytes:
    mail = EmailMessage()
    mail["From"] = "carol@example.net"
    mail["To"] = "alice@example.org"
    mail["Subject"] = subject
    mail["Date"] = "Fri, 01 Mar 2024 09:30:00 +0000"
    mail["Message-ID"] = f"<{subject}@example.net>"
    mail.set_content(f"This is {subject}.\n")
    return mail.as_bytes().replace(b"\n", b"\r\n")


@dataclass
class Maildir:
    """The local side, read and changed the way a mail program on the laptop would."""

    root: Path

    def folder(self, name: str) -> Path:
        path = self.root / name
        for sub in ("cur", "new", "tmp"):
            (path / sub).mkdir(parents=True, exist_ok=True)
        return path

    def deliver(self, folder: str, subject: str, letters: str = "") -> Path:
        """A new message, as a local program writes it (into cur/ when it has flags)."""
        path = self.folder(folder)
        name = f"local-{subject}.host"
        target = path / "new" / name if not letters else path / "cur" / f"{name}:2,{letters}"
        target.write_bytes(message(subject).replace(b"\r\n", b"\n"))
        return target

    def find(self, folder: str, subject: str) -> Path:
        for path in self._files(self.root / folder):
            if self._subject(path) == subject:
                return path
        raise AssertionError(f"{subject} not in local {folder}")

    def set_letters(self, folder: str, subject: str, letters: str) -> None:
        path = self.find(folder, subject)
        base = path.name.split(":2,")[0]
        path.rename(path.parent.parent / "cur" / f"{base}:2,{''.join(sorted(letters))}")

    def snapshot(self) -> Snapshot:
        found: Snapshot = {}
        for cur in sorted(self.root.rglob("cur")):
            folder = cur.parent.relative_to(self.root).as_posix()
            found[folder] = {self._subject(path): self._flags(path)
                             for path in self._files(cur.parent)}
        return found

    def names(self) -> set[str]:
        """Every message file name: a run that changes nothing leaves them all as they were."""
        return {path.relative_to(self.root).as_posix() for path in self.root.rglob("*")
                if path.parent.name in ("cur", "new")}

    @staticmethod
    def _files(folder: Path) -> list[Path]:
        return sorted(path for sub in ("cur", "new") if (folder / sub).is_dir()
                      for path in (folder / sub).iterdir())

    @staticmethod
    def _subject(path: Path) -> str:
        return str(email.message_from_bytes(path.read_bytes())["Subject"])

    @staticmethod
    def _flags(path: Path) -> frozenset[bytes]:
        letters = path.name.split(":2,")[1] if ":2," in path.name else ""
        return frozenset(FLAG_LETTERS[letter] for letter in letters if letter in FLAG_LETTERS)


@dataclass
class Sync:
    server: IMAPServer
    maildir: Maildir
    config: Path
    home: Path

    def run(self) -> subprocess.CompletedProcess:
        result = subprocess.run([MBSYNC, "--config", str(self.config), "--all", "--verbose"],
                                capture_output=True, text=True, timeout=60,
                                env={"HOME": str(self.home), "PATH": "/usr/bin:/bin"})
        assert result.returncode == 0, result.stdout + result.stderr
        assert "rror" not in result.stderr and "arning" not in result.stderr, result.stderr
        return result

    def client(self) -> imapclient.IMAPClient:
        client = imapclient.IMAPClient("127.0.0.1", port=self.server.imaps, ssl=True,
                                       ssl_context=self.server.context, timeout=30)
        client.login(USER, PASSWORD)
        return client

    def server_view(self) -> tuple[Snapshot, dict[str, tuple[int, ...]]]:
        """What the server holds, read over IMAP without changing it (EXAMINE): folder ->
        subject -> flags, and folder -> (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ), which any
        change on the server moves."""
        found: Snapshot = {}
        state: dict[str, tuple[int, ...]] = {}
        with self.client() as client:
            for _, _, name in client.list_folders():
                selected = client.select_folder(name, readonly=True)
                state[name] = (selected[b"UIDVALIDITY"], selected[b"UIDNEXT"],
                               selected[b"HIGHESTMODSEQ"])
                uids = client.search("ALL")
                data = client.fetch(uids, ["FLAGS", "ENVELOPE"]) if uids else {}
                found[name] = {item[b"ENVELOPE"].subject.decode(): frozenset(item[b"FLAGS"])
                               for item in data.values()}
        return found, state


@pytest.fixture
def sync(imap_server: IMAPServer, tmp_path: Path) -> Iterator[Sync]:
    secret = tmp_path / "password"
    secret.touch(mode=0o600)
    secret.write_text(PASSWORD)
    authority = tmp_path / "ca.pem"
    authority.write_text("".join(ssl.DER_cert_to_PEM_cert(der) for der in
                                 imap_server.context.get_ca_certs(binary_form=True)))
    root = tmp_path / "mail"
    root.mkdir()
    config = tmp_path / "mbsyncrc"
    config.write_text(f"""\
IMAPAccount server
Host localhost
Port {imap_server.imaps}
User {USER}
PassCmd "cat {secret}"
SSLType IMAPS
CertificateFile {authority}

IMAPStore remote
Account server

MaildirStore local
Path {root}/
Inbox {root}/INBOX
SubFolders Verbatim

Channel everything
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
""")
    yield Sync(imap_server, Maildir(root), config, tmp_path)


def assert_converged(sync: Sync) -> Snapshot:
    """Both sides hold the same folders, messages and flags, and another run changes nothing."""
    remote, state = sync.server_view()
    assert sync.maildir.snapshot() == remote
    names = sync.maildir.names()
    sync.run()
    assert sync.maildir.names() == names
    assert sync.server_view() == (remote, state)
    return remote


def test_two_way_sync_converges(sync):
    with sync.client() as client:
        client.append("INBOX", message("welcome"))
        client.append("INBOX", message("read-already"), flags=[imapclient.SEEN])
        client.append("INBOX", message("doomed-on-server"))
        client.append("Sent", message("my-reply"), flags=[imapclient.SEEN,
                                                          imapclient.ANSWERED])
        client.create_folder("Projects/2024")
        client.append("Projects/2024", message("plan"), flags=[imapclient.FLAGGED])
    sync.maildir.deliver("INBOX", "written-offline", "S")
    sync.maildir.deliver("Notes", "note-to-self")
    sync.maildir.deliver("Projects/2024", "doomed-on-laptop")

    sync.run()
    first = assert_converged(sync)
    assert first["INBOX"] == {"welcome": frozenset(), "read-already": {b"\\Seen"},
                              "doomed-on-server": frozenset(), "written-offline": {b"\\Seen"}}
    assert first["Sent"] == {"my-reply": {b"\\Seen", b"\\Answered"}}
    assert first["Projects/2024"] == {"plan": {b"\\Flagged"}, "doomed-on-laptop": frozenset()}
    assert first["Notes"] == {"note-to-self": frozenset()}
    assert {"Projects", "Trash", "Junk", "Drafts"} <= set(first)

    with sync.client() as client:  # the webmail or a phone changes things on the server
        client.select_folder("INBOX")
        by_subject = {item[b"ENVELOPE"].subject: uid for uid, item in
                      client.fetch(client.search("ALL"), ["ENVELOPE"]).items()}
        client.add_flags([by_subject[b"welcome"]], [imapclient.FLAGGED, imapclient.SEEN])
        client.add_flags([by_subject[b"read-already"]], [imapclient.ANSWERED])
        client.delete_messages([by_subject[b"doomed-on-server"]])
        client.uid_expunge([by_subject[b"doomed-on-server"]])
        client.append("Sent", message("sent-from-phone"), flags=[imapclient.SEEN])
    sync.maildir.set_letters("INBOX", "written-offline", "FS")  # the laptop, meanwhile
    sync.maildir.set_letters("Projects/2024", "plan", "FRS")
    sync.maildir.find("Projects/2024", "doomed-on-laptop").unlink()
    sync.maildir.deliver("Sent", "sent-from-laptop", "S")

    sync.run()
    second = assert_converged(sync)
    assert second["INBOX"] == {"welcome": {b"\\Flagged", b"\\Seen"},
                               "read-already": {b"\\Seen", b"\\Answered"},
                               "written-offline": {b"\\Flagged", b"\\Seen"}}
    assert second["Projects/2024"] == {"plan": {b"\\Flagged", b"\\Answered", b"\\Seen"}}
    assert second["Sent"] == {"my-reply": {b"\\Seen", b"\\Answered"},
                              "sent-from-phone": {b"\\Seen"},
                              "sent-from-laptop": {b"\\Seen"}}
    assert second["Notes"] == first["Notes"]
