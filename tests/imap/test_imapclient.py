"""A real client library against the real server: `imapclient` using the extensions the way a
mail program does (CONDSTORE, IDLE, MOVE, UIDPLUS, SPECIAL-USE, QUOTA, ID, ENABLE, NAMESPACE,
UNSELECT), COMPRESS=DEFLATE spoken by hand over imaplib, and the first sync of a
Thunderbird-like client. Every test checks what came back, not only that nothing was raised."""

from __future__ import annotations

import base64
import email
import imaplib
import itertools
import re
import time
import zlib
from datetime import UTC, date, datetime, timedelta, timezone
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.utils import format_datetime

import imapclient
import pytest
from imapclient.exceptions import CapabilityError, LoginError

from mfserver import __version__
from tests.imap.conftest import PASSWORD, IMAPServer

_folders = itertools.count(1)


def connect(server: IMAPServer, user: str | None = "alice") -> imapclient.IMAPClient:
    """An IMAPClient on the implicit-TLS port, logged in as `user` unless None."""
    client = imapclient.IMAPClient("127.0.0.1", port=server.imaps, ssl=True,
                                   ssl_context=server.context, timeout=30)
    if user is not None:
        client.login(user, PASSWORD)
    return client


def message(subject: str, body: str = "Hello.\n", sender: str = "carol@example.net",
            when: datetime | None = None, message_id: str | None = None) -> bytes:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = "alice@example.org"
    mail["Subject"] = subject
    mail["Date"] = format_datetime(when or datetime(2024, 3, 1, 9, 30, tzinfo=UTC))
    mail["Message-ID"] = message_id or f"<{abs(hash(subject))}@example.net>"
    mail.set_content(body)
    return mail.as_bytes().replace(b"\n", b"\r\n")


@pytest.fixture
def alice(imap_server):
    client = connect(imap_server)
    yield client
    client.logout()


@pytest.fixture
def folder(alice) -> str:
    """A fresh, empty folder of alice's."""
    name = f"Lib{next(_folders)}"
    alice.create_folder(name)
    return name


def appended_uid(response: bytes) -> int:
    match = re.search(rb"\[APPENDUID \d+ (\d+)\]", response)
    assert match, response
    return int(match.group(1))


# -- capabilities and login ---------------------------------------------------------------

def test_capabilities_before_and_after_login(imap_server):
    client = connect(imap_server, user=None)
    before = client.capabilities()
    assert b"IMAP4REV1" in before and b"AUTH=PLAIN" in before
    assert b"STARTTLS" not in before and b"LOGINDISABLED" not in before  # already TLS
    client.login("alice", PASSWORD)
    after = client.capabilities()
    for extension in (b"CONDSTORE", b"QRESYNC", b"IDLE", b"MOVE", b"UIDPLUS", b"SPECIAL-USE",
                      b"ENABLE", b"NAMESPACE", b"UNSELECT", b"QUOTA", b"ESEARCH",
                      b"LIST-STATUS", b"COMPRESS=DEFLATE", b"ID"):
        assert extension in after, extension
    assert not client.has_capability("ACL")
    assert client.logout() == b"Logging out"


def test_login_over_starttls(imap_server):
    client = imapclient.IMAPClient("127.0.0.1", port=imap_server.imap, ssl=False, timeout=30)
    plain = client.capabilities()
    assert b"STARTTLS" in plain and b"LOGINDISABLED" in plain and b"AUTH=PLAIN" not in plain
    with pytest.raises(LoginError, match="PRIVACYREQUIRED"):
        client.login("alice", PASSWORD)
    client.starttls(imap_server.context)
    secured = client.capabilities()  # asked anew after STARTTLS (RFC 3501 6.2.1)
    assert b"STARTTLS" not in secured and b"AUTH=PLAIN" in secured
    with pytest.raises(LoginError, match="AUTHENTICATIONFAILED"):
        client.login("alice", "not the password")
    assert client.login("alice", PASSWORD).endswith(b"] Logged in")
    assert b"INBOX" in [name.encode() for _, _, name in client.list_folders()]
    client.logout()


def test_plain_sasl_login_with_address(imap_server):
    client = connect(imap_server, user=None)
    client.plain_login("alice@example.org", PASSWORD)
    assert client.select_folder("INBOX", readonly=True)[b"READ-ONLY"] == [b""]
    client.logout()


# -- ID, ENABLE, NAMESPACE, capabilities not advertised -------------------------------------

def test_id_enable_namespace(alice):
    identity = alice.id_({"name": "imapclient-test", "version": "1"})
    assert identity[0] == (b"name", b"mfserver", b"version", __version__.encode())
    assert alice.enable("CONDSTORE") == [b"CONDSTORE"]
    assert alice.enable("CONDSTORE") == []  # already on: not enabled again (RFC 5161 3.1)
    assert alice.enable("X-UNKNOWN") == []
    namespace = alice.namespace()
    assert namespace.personal == (("", "/"),)
    assert namespace.other is None and namespace.shared is None


def test_getacl_fails_gracefully(alice, imap_server):
    with pytest.raises(CapabilityError):
        alice.getacl("INBOX")  # ACL is not advertised, so the library does not even ask
    # ... and a client that asks anyway gets BAD, and the connection goes on
    with pytest.raises(imaplib.IMAP4.error, match="BAD.*GETACL"):
        alice._imap._simple_command("GETACL", "INBOX")
    assert alice.noop()[0] == b"NOOP completed"


# -- folders ------------------------------------------------------------------------------

def test_list_folders_special_use_and_subscriptions(alice):
    alice.create_folder("Projects/2024")
    names = {name: flags for flags, delimiter, name in alice.list_folders()}
    assert {"INBOX", "Sent", "Drafts", "Trash", "Junk", "Projects", "Projects/2024"} <= \
        set(names)
    assert b"\\HasChildren" in names["Projects"]
    assert b"\\HasNoChildren" in names["Projects/2024"]
    assert alice.list_folders("Projects/", "%") == [((b"\\HasNoChildren",), b"/",
                                                     "Projects/2024")]
    assert b"\\Sent" in names["Sent"] and b"\\Trash" in names["Trash"]  # RFC 6154
    assert alice.find_special_folder(imapclient.imapclient.SENT) == "Sent"
    assert alice.find_special_folder(imapclient.imapclient.TRASH) == "Trash"
    assert alice.find_special_folder(imapclient.imapclient.JUNK) == "Junk"
    alice.subscribe_folder("Projects/2024")
    subscribed = [name for _, _, name in alice.list_sub_folders()]
    assert "Projects/2024" in subscribed
    alice.unsubscribe_folder("Projects/2024")
    assert "Projects/2024" not in [name for _, _, name in alice.list_sub_folders()]
    alice.rename_folder("Projects/2024", "Projects/2025")
    assert alice.folder_exists("Projects/2025") and not alice.folder_exists("Projects/2024")
    alice.delete_folder("Projects/2025")
    alice.delete_folder("Projects")


def test_international_folder_names_round_trip(alice):
    alice.create_folder("Entwürfe/日本語")
    names = [name for _, _, name in alice.list_folders()]
    assert "Entwürfe" in names and "Entwürfe/日本語" in names
    uid = appended_uid(alice.append("Entwürfe/日本語", message("unicode folder")))
    assert alice.select_folder("Entwürfe/日本語")[b"EXISTS"] == 1
    assert list(alice.fetch([uid], ["FLAGS"])) == [uid]


def test_folder_status(alice, folder):
    alice.append(folder, message("one"))
    alice.append(folder, message("two"), flags=[imapclient.SEEN])
    status = alice.folder_status(folder, ["MESSAGES", "UNSEEN", "UIDNEXT", "UIDVALIDITY",
                                          "RECENT", "HIGHESTMODSEQ"])
    assert status[b"MESSAGES"] == 2 and status[b"UNSEEN"] == 1 and status[b"UIDNEXT"] == 3
    assert status[b"UIDVALIDITY"] > 0 and status[b"HIGHESTMODSEQ"] > 0
    assert alice.folder_status(folder)[b"MESSAGES"] == 2  # the library's default items


def test_get_quota_root(imap_server):
    imap_server.cli("user", "set", "bob@example.org", "--quota", "10M")
    bob = connect(imap_server, "bob")
    bob.append("INBOX", message("for the quota", body="x" * 4000))
    roots, quotas = bob.get_quota_root("INBOX")
    assert roots.mailbox == "INBOX" and roots.quota_roots == [""]
    assert len(quotas) == 1
    assert (quotas[0].resource, quotas[0].limit) == ("STORAGE", 10 * 1024)
    assert 4 <= quotas[0].usage < 100  # kilobytes
    bob.logout()


# -- messages -----------------------------------------------------------------------------

def test_append_with_flags_and_date(alice, folder):
    when = datetime(2023, 7, 14, 2, 44, 25, tzinfo=timezone(timedelta(hours=-7)))
    raw = message("dated", body="Some body text.\n")
    uid = appended_uid(alice.append(folder, raw, flags=[imapclient.FLAGGED, "$Label1"],
                                    msg_time=when))
    alice.select_folder(folder)
    data = alice.fetch([uid], ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "BODY.PEEK[]"])[uid]
    assert set(data[b"FLAGS"]) == {b"\\Flagged", b"$Label1"}
    assert data[b"RFC822.SIZE"] == len(raw)
    assert data[b"BODY[]"] == raw
    alice.normalise_times = False
    stamp = alice.fetch([uid], ["INTERNALDATE"])[uid][b"INTERNALDATE"]
    assert stamp == when


def test_fetch_structure_sections_and_partial(alice, folder):
    mail = EmailMessage()
    mail["From"] = "Zoë <zoe@example.net>"
    mail["To"] = "alice@example.org"
    mail["Subject"] = "Bericht über Köln"
    mail.set_content("Der Text.\n")
    mail.add_attachment(bytes(range(256)), maintype="application", subtype="octet-stream",
                        filename="data.bin")
    raw = mail.as_bytes().replace(b"\n", b"\r\n")
    uid = appended_uid(alice.append(folder, raw))
    alice.select_folder(folder)
    data = alice.fetch([uid], ["ENVELOPE", "BODYSTRUCTURE", "BODY.PEEK[1]",
                               "BODY.PEEK[2.MIME]", "BODY.PEEK[]<0.20>", "BODY.PEEK[2]"])[uid]
    envelope = data[b"ENVELOPE"]
    subject = make_header(decode_header(envelope.subject.decode()))
    assert str(subject) == "Bericht über Köln"
    assert (envelope.from_[0].mailbox, envelope.from_[0].host) == (b"zoe", b"example.net")
    structure = data[b"BODYSTRUCTURE"]
    assert structure.is_multipart
    parts, subtype = structure[0], structure[1]
    assert subtype.lower() == b"mixed"
    assert [(part[0].lower(), part[1].lower()) for part in parts] == \
        [(b"text", b"plain"), (b"application", b"octet-stream")]
    assert data[b"BODY[1]"] == b"Der Text.\r\n"
    assert b'filename="data.bin"' in data[b"BODY[2.MIME]"]
    assert data[b"BODY[]<0>"] == raw[:20]
    assert base64.b64decode(data[b"BODY[2]"]) == bytes(range(256))
    assert alice.get_flags([uid]) == {uid: ()}  # every item was a PEEK


def test_noop_tells_what_another_session_changed(imap_server, alice, folder):
    uid = appended_uid(alice.append(folder, message("watched")))
    alice.select_folder(folder)
    other = connect(imap_server)
    other.select_folder(folder)
    other.set_flags([uid], [imapclient.SEEN, "$Important"])
    other.append(folder, message("arrived"))
    other.logout()
    text, responses = alice.noop()
    assert text == b"NOOP completed"
    assert (1, b"FETCH", (b"UID", uid, b"FLAGS", (b"\\Seen", b"$Important"))) in responses
    assert (2, b"EXISTS") in responses


def test_select_with_condstore_and_fetch_changedsince(alice, folder):
    uids = [appended_uid(alice.append(folder, message(f"m{n}"))) for n in range(3)]
    assert alice.enable("CONDSTORE") in ([b"CONDSTORE"], [])
    selected = alice.select_folder(folder)
    assert selected[b"EXISTS"] == 3 and selected[b"READ-WRITE"]
    since = selected[b"HIGHESTMODSEQ"]
    modseqs = alice.fetch(uids, ["MODSEQ"])
    assert all(0 < modseqs[uid][b"MODSEQ"][0] <= since for uid in uids)
    changed = alice.add_flags([uids[1]], [imapclient.FLAGGED])
    assert changed == {uids[1]: (b"\\Flagged",)}
    answer = alice.fetch(uids, ["FLAGS"], modifiers=[f"CHANGEDSINCE {since}"])
    assert list(answer) == [uids[1]]
    assert answer[uids[1]][b"FLAGS"] == (b"\\Flagged",)
    assert answer[uids[1]][b"MODSEQ"][0] > since
    later = alice.folder_status(folder, ["HIGHESTMODSEQ"])[b"HIGHESTMODSEQ"]
    assert later == answer[uids[1]][b"MODSEQ"][0]
    found = alice.search(["MODSEQ", since + 1])
    assert found == [uids[1]] and found.modseq == later
    assert alice.fetch(uids, ["FLAGS"], modifiers=[f"CHANGEDSINCE {later}"]) == {}


def test_search_with_criteria_lists_and_utf8(alice, folder):
    first = appended_uid(alice.append(folder, message("Grüße aus Köln", body="Straße\n")))
    second = appended_uid(alice.append(folder, message("beta report", sender="dan@example.com",
                                                       when=datetime(2022, 1, 5, tzinfo=UTC))))
    third = appended_uid(alice.append(folder, message("gamma"), flags=[imapclient.FLAGGED]))
    alice.select_folder(folder)
    assert alice.search(["SUBJECT", "Grüße"], charset="UTF-8") == [first]
    assert alice.search(["BODY", "Straße"], charset="UTF-8") == [first]
    assert alice.search(["TEXT", "köln"], charset="UTF-8") == [first]
    assert alice.search(["OR", "FLAGGED", ["SUBJECT", "beta"]]) == [second, third]
    assert alice.search(["NOT", ["FROM", "dan@example.com"], "UNFLAGGED"]) == [first]
    assert alice.search(["BEFORE", date(2023, 1, 1)]) == []  # INTERNALDATE is today
    assert alice.search(["SENTBEFORE", date(2023, 1, 1)]) == [second]
    assert alice.search("ALL") == [first, second, third]
    with pytest.raises(imapclient.IMAPClient.Error, match="BADCHARSET"):
        alice.search(["SUBJECT", "x"], charset="KOI8-R")


def test_copy_returns_copyuid_and_move(alice, folder):
    target = f"{folder}-target"
    alice.create_folder(target)
    uids = [appended_uid(alice.append(folder, message(f"c{n}"))) for n in range(3)]
    validity = alice.folder_status(target, ["UIDVALIDITY"])[b"UIDVALIDITY"]
    alice.select_folder(folder)
    # UID COPY answers through imaplib's UID path, which keeps the tagged line's response
    # code where imaplib keeps every response code: among the untagged responses.
    alice.copy(uids[:2], target)
    assert alice._imap.untagged_responses.pop("COPYUID") == \
        [b"%d %d:%d 1:2" % (validity, uids[0], uids[1])]
    alice.use_uid = False  # plain COPY: the library hands back the tagged text
    assert alice.copy([3], target) == b"[COPYUID %d %d 3] COPY completed" % (validity, uids[2])
    alice._imap.untagged_responses.pop("COPYUID")
    alice.use_uid = True
    alice.move([uids[2]], target)
    assert alice._imap.untagged_responses.pop("COPYUID") == [b"%d %d 4" % (validity, uids[2])]
    assert alice.search("ALL") == uids[:2]
    alice.select_folder(target)
    copied = alice.search("ALL")
    assert copied == [1, 2, 3, 4]
    subjects = [data[b"ENVELOPE"].subject for data in alice.fetch(copied, ["ENVELOPE"]).values()]
    assert subjects == [b"c0", b"c1", b"c2", b"c2"]


def test_uid_expunge_removes_only_the_named(alice, folder):
    uids = [appended_uid(alice.append(folder, message(f"e{n}"))) for n in range(3)]
    alice.select_folder(folder)
    alice.delete_messages(uids[:2])
    alice.uid_expunge([uids[0]])
    assert alice.search("ALL") == uids[1:]
    assert alice.get_flags(uids[1:]) == {uids[1]: (b"\\Deleted",), uids[2]: ()}
    alice.expunge()
    assert alice.search("ALL") == [uids[2]]


def test_unselect_keeps_deleted_messages(alice, folder):
    uid = appended_uid(alice.append(folder, message("keep me")))
    alice.select_folder(folder)
    alice.delete_messages([uid])
    assert alice.unselect_folder() == b"UNSELECT completed"
    assert alice.folder_status(folder, ["MESSAGES", "DELETED"]) == {b"MESSAGES": 1,
                                                                     b"DELETED": 1}
    alice.select_folder(folder)
    alice.close_folder()  # CLOSE, unlike UNSELECT, expunges
    assert alice.folder_status(folder, ["MESSAGES"])[b"MESSAGES"] == 0


def test_idle_sees_an_append_from_another_client(imap_server, alice, folder):
    alice.append(folder, message("before idle"))
    alice.select_folder(folder)
    alice.idle()
    assert alice.idle_check(timeout=0.2) == []
    other = connect(imap_server)
    started = time.monotonic()
    other.append(folder, message("during idle"))
    seen = []
    while (1, b"EXISTS") not in seen and (2, b"EXISTS") not in seen \
            and time.monotonic() - started < 3:
        seen += alice.idle_check(timeout=1)
    assert (2, b"EXISTS") in seen, seen
    assert time.monotonic() - started < 1.0
    text, _ = alice.idle_done()
    assert text == b"IDLE terminated"
    uids = alice.search("ALL")
    subjects = [data[b"ENVELOPE"].subject for data in alice.fetch(uids, ["ENVELOPE"]).values()]
    assert subjects == [b"before idle", b"during idle"]
    other.logout()


# -- COMPRESS=DEFLATE (imapclient has no support: imaplib, by hand) --------------------------

class DeflateIMAP(imaplib.IMAP4_SSL):
    """imaplib speaking RFC 4978 raw deflate once `compress()` succeeded."""

    wire_in = 0
    _inflate = None

    def compress(self) -> tuple[str, list[bytes]]:
        typ, data = self._simple_command("COMPRESS", "DEFLATE")
        if typ == "OK":
            self._deflate = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
            self._inflate = zlib.decompressobj(-15)
            self._plain = b""
        return typ, data

    def send(self, data: bytes) -> None:
        if self._inflate is not None:
            data = self._deflate.compress(data) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
        super().send(data)

    def _fill(self, wanted: int) -> None:
        while len(self._plain) < wanted:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise self.abort("socket closed")
            self.wire_in += len(chunk)
            self._plain += self._inflate.decompress(chunk)

    def read(self, size: int) -> bytes:
        if self._inflate is None:
            return super().read(size)
        self._fill(size)
        data, self._plain = self._plain[:size], self._plain[size:]
        return data

    def readline(self) -> bytes:
        if self._inflate is None:
            return super().readline()
        while b"\n" not in self._plain:
            self._fill(len(self._plain) + 1)
        line, _, self._plain = self._plain.partition(b"\n")
        return line + b"\n"


def test_compress_deflate(imap_server, monkeypatch):
    monkeypatch.setitem(imaplib.Commands, "COMPRESS", ("AUTH", "SELECTED"))
    client = DeflateIMAP("127.0.0.1", imap_server.imaps, ssl_context=imap_server.context,
                         timeout=30)
    assert "COMPRESS=DEFLATE" not in client.capabilities  # only after login
    client.login("alice", PASSWORD)
    client.create("Squeezed")
    body = ("All work and no play makes Jack a dull boy.\n" * 2000)
    raw = message("compressible", body=body)
    typ, _ = client.compress()
    assert typ == "OK"
    client.untagged_responses.clear()
    typ, data = client.capability()
    assert typ == "OK" and b"IDLE" in data[0]
    assert b"COMPRESS=DEFLATE" not in data[0]  # not a second time (RFC 4978 3)
    assert client.append("Squeezed", "(\\Seen)", None, raw)[0] == "OK"
    typ, data = client.select("Squeezed")
    assert (typ, data) == ("OK", [b"1"])
    before = client.wire_in
    typ, data = client.fetch("1", "(BODY.PEEK[])")
    assert typ == "OK" and data[0][1] == raw
    assert client.wire_in - before < len(raw) // 10  # it was really compressed
    typ, data = client._simple_command("COMPRESS", "DEFLATE")
    assert typ == "NO" and b"COMPRESSIONACTIVE" in data[0]
    assert client.logout()[0] == "BYE"


# -- a Thunderbird-like first sync, with imaplib -----------------------------------------

HEADERS = ("From To Cc Bcc Subject Date Message-ID Priority X-Priority References "
           "Newsgroups In-Reply-To Content-Type Reply-To")


def test_thunderbird_like_first_sync(imap_server, monkeypatch):
    for name in ("ID", "IDLE"):
        monkeypatch.setitem(imaplib.Commands, name, ("NONAUTH", "AUTH", "SELECTED"))
    setup = connect(imap_server)
    for n in range(5):
        setup.append("INBOX", message(f"tb{n}", message_id=f"<tb{n}@example.net>"),
                     flags=[imapclient.SEEN] if n % 2 else [])
    setup.logout()
    client = imaplib.IMAP4_SSL("127.0.0.1", imap_server.imaps, ssl_context=imap_server.context,
                               timeout=30)
    typ, data = client.capability()
    assert typ == "OK"
    client.login("alice", PASSWORD)
    typ, data = client.capability()
    assert b"CONDSTORE" in data[0] and b"IDLE" in data[0]
    typ, data = client._simple_command(
        "ID", '("name" "Thunderbird" "version" "128.0")')
    assert typ == "OK" and client.untagged_responses.pop("ID")[0].startswith(b'("name"')
    typ, data = client._simple_command(
        "LIST", '(SPECIAL-USE) "" "*" RETURN (SUBSCRIBED CHILDREN)')
    assert typ == "OK"
    listed = client.untagged_responses.pop("LIST")
    assert any(b"\\Sent" in line and line.endswith(b'"Sent"') for line in listed), listed
    assert all(b"\\HasNoChildren" in line or b"\\HasChildren" in line for line in listed)
    typ, data = client._simple_command("LIST", '"" "*" RETURN (SUBSCRIBED CHILDREN '
                                       'STATUS (MESSAGES UNSEEN UIDNEXT))')
    assert typ == "OK"
    assert any(line.startswith(b'"INBOX" (') for line in client.untagged_responses["STATUS"])
    client.untagged_responses.clear()
    typ, data = client._simple_command("SELECT", "INBOX", "(CONDSTORE)")
    assert typ == "OK" and data == [b"[READ-WRITE] SELECT completed"]
    client.state = "SELECTED"  # what imaplib's own select() does
    exists = int(client.untagged_responses["EXISTS"][-1])
    assert exists >= 5
    assert any(b"HIGHESTMODSEQ" in line for line in client.untagged_responses["OK"])
    typ, data = client.uid("FETCH", "1:*", "(FLAGS)")
    assert typ == "OK" and len(data) == exists
    flags = [re.search(rb"FLAGS \(([^)]*)\)", line).group(1) for line in data]
    assert all(re.search(rb"MODSEQ \(\d+\)", line) for line in data)  # CONDSTORE is on
    assert flags[-5:] == [b"", b"\\Seen", b"", b"\\Seen", b""]
    uids = [int(re.search(rb"UID (\d+)", line).group(1)) for line in data]
    newest = uids[-500:]
    typ, data = client.uid("FETCH", f"{newest[0]}:{newest[-1]}",
                           f"(UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS ({HEADERS})])")
    assert typ == "OK"
    parts = [item for item in data if isinstance(item, tuple)]
    assert len(parts) == len(newest)
    last = email.message_from_bytes(parts[-1][1])
    assert last["Subject"] == "tb4" and last["Message-ID"] == "<tb4@example.net>"
    assert b"Hello." not in parts[-1][1]  # headers only
    typ, data = client.uid("FETCH", str(newest[-1]), "(FLAGS)")
    assert data[0].endswith(b"FLAGS ())") or b"FLAGS ()" in data[0]  # PEEK kept it unseen
    tag = client._command("IDLE")
    assert client._get_response() is None and client.continuation_response == b"idling"
    client.send(b"DONE\r\n")
    assert client._command_complete("IDLE", tag)[0] == "OK"
    client.logout()
