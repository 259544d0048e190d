"""The running server fuzzed in every connection state (hypothesis, over the wire).

States: not authenticated on the STARTTLS port before STARTTLS and after it, authenticated,
selected read-write, selected read-only (EXAMINE), and idling. Into each, hypothesis sends
garbage and near-valid commands: real commands mutated octet by octet and token by token,
random octets with CRLF, literal announcements whose size is wrong, huge numbers, deep
parentheses. After the input come filler octets for any literal it left open and NOOPs, so
every answer is read. Properties:
- every line the server sends is a protocol line (RFC 3501 7, 9): a tagged OK/NO/BAD with a
  valid tag and text, a known untagged response, or a "+" continuation; 7-bit outside
  literals; never a traceback, a Python repr or an internal error;
- the server answers a NOOP on a new connection after every input;
- nothing appears in the data directory outside alice's maildir (her folders and messages),
  the database files and the log, and the log holds no traceback.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.imap.conftest import PASSWORD, IMAPServer, RawIMAP, serve_imap

STATES = ("plaintext", "starttls", "authenticated", "selected", "examined", "idling")
FILLER_CAP = 1_000_000  # literals up to this size are filled; larger ones end the connection
SENTINELS = 4  # NOOPs after the input: an AUTHENTICATE or IDLE may take some as its lines
ANSWER_WITHIN = 3.0  # seconds

# RFC 3501 9: tag = 1*<any ASTRING-CHAR except "+">
_TAG = rb'[^\x00-\x20\x7f-\xff(){%*"\\+]+'
_TAGGED = re.compile(_TAG + rb" (?:OK|NO|BAD) [^\r\n]+")
_UNTAGGED = re.compile(
    rb"\* (?:(?:OK|NO|BAD|BYE|PREAUTH) [^\r\n]+|CAPABILITY [^\r\n]+"
    rb"|\d+ (?:EXISTS|RECENT|EXPUNGE)|\d+ FETCH \(.*\)"
    rb"|(?:FLAGS|LIST|LSUB|STATUS|SEARCH|ESEARCH|ENABLED|ID|NAMESPACE|QUOTA|QUOTAROOT"
    rb"|VANISHED)(?: [^\r\n]*)?)")
_CONTINUATION = re.compile(rb"\+(?: [^\r\n]*)?")
_NOT_FOR_CLIENTS = re.compile(  # what only a bug puts on the wire
    rb"Traceback|object at 0x|Error\(|Exception|Failure|<class |(?:^|[\s(\[])b'[^']*'"
    rb"|\\x[0-9a-f]{2}"
    rb"|internal error|SERVERBUG", re.IGNORECASE)
_LITERAL_AT_END = re.compile(rb"~?\{(\d+)\+?\}\Z")
_ANNOUNCED = re.compile(rb"\{(\d+)\+?\}\r?\n")

MESSAGES = [
    b"From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: plain\r\n"
    b"Date: Mon, 02 Jan 2023 10:00:00 +0100\r\nMessage-ID: <f1@example.org>\r\n\r\n"
    b"Hello Bob, zebra.\r\n",
    # raw UTF-8 in headers, as real mail has
    "From: J\u00fcrgen <j@example.org>\r\nSubject: Gr\u00fc\u00dfe \"quoted\" \\ back\r\n"
    "Date: Tue, 03 Jan 2023 11:00:00 +0000\r\n\r\n\u00e9t\u00e9\r\n".encode(),
    b"From: Carol <carol@example.net>\r\nSubject: =?UTF-8?B?w6ljb2xl?=\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
    b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPart one\r\n--b1\r\n"
    b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"AAECAwQ=\r\n--b1--\r\n",
]

COMMON = [
    b"CAPABILITY", b"NOOP", b"LOGOUT", b'ID ("name" "fuzz" "version" "1.0")', b"ID NIL",
    b"ENABLE QRESYNC CONDSTORE UTF8=ACCEPT",
]
NOT_AUTHENTICATED = COMMON + [
    b"STARTTLS", b'LOGIN alice "' + PASSWORD.encode() + b'"', b"LOGIN {5}\r\nalice {3}\r\npw!",
    b"LOGIN nobody secret", b"AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==",
    b"AUTHENTICATE PLAIN", b"AUTHENTICATE LOGIN", b"AUTHENTICATE CRAM-MD5 =", b"SELECT INBOX",
]
AUTHENTICATED = COMMON + [
    b"SELECT Fuzz", b"SELECT Fuzz (CONDSTORE)", b"SELECT Fuzz (QRESYNC (1 1 1:5 (1:2 1:2)))",
    b"EXAMINE INBOX", b"CREATE Fuzz/new", b'CREATE "../../outside"', b"CREATE &Jjo-x/y/",
    b"CREATE Fuzz/special (USE (\\Archive))", b'DELETE "Fuzz/new"', b"RENAME Fuzz/new Fuzz/old",
    b"SUBSCRIBE Fuzz", b"UNSUBSCRIBE Fuzz", b'LIST "" "*"', b'LIST "" ""',
    b'LIST (SUBSCRIBED RECURSIVEMATCH) "" ("*" "%") RETURN (CHILDREN STATUS (MESSAGES SIZE))',
    b'LSUB "Fuzz" "%"', b"STATUS Fuzz (MESSAGES UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ SIZE "
    b"DELETED APPENDLIMIT RECENT)", b"STATUS INBOX ()",
    b'APPEND Fuzz (\\Seen $Fuzz) "01-Jan-2024 10:00:00 +0000" {26}\r\nSubject: x\r\n\r\nhello '
    b"world\r\n", b"APPEND Fuzz ~{5}\r\nab\x00cd", b"APPEND Fuzz {5+}\r\nhello",
    b"NAMESPACE", b"GETQUOTAROOT INBOX", b'GETQUOTA ""', b'SETQUOTA "" (STORAGE 10)', b"IDLE",
    b"UNSELECT", b"CHECK", b"COMPRESS DEFLATE", b'CREATE "&AC4-&AC4-/x"', b'CREATE "a.b/%2E%2E"',
    b'CREATE "~/x"', b'RENAME Fuzz/new "INBOX/../../x"', b'CREATE "Fuzz/\\x"',
]
SELECTED = AUTHENTICATED + [
    b"FETCH 1:* (FLAGS UID INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE)", b"FETCH 1:3 FULL",
    b"FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)]<0.10>", b"FETCH 2 (BODY[1.MIME] RFC822)",
    b"UID FETCH 1:* (BINARY.PEEK[1] BINARY.SIZE[1] BODY.PEEK[TEXT]) (CHANGEDSINCE 1 VANISHED)",
    b"FETCH 1,2:3 (FLAGS) (CHANGEDSINCE 0)", b"FETCH $ (FLAGS)", b"STORE 1 +FLAGS (\\Seen $kw)",
    b"UID STORE 1:* (UNCHANGEDSINCE 5) -FLAGS.SILENT (\\Flagged)", b"STORE 2 FLAGS ()",
    b'SEARCH CHARSET UTF-8 OR FROM "x" (SUBJECT y NOT SEEN) SINCE 1-Jan-2020 LARGER 10',
    b"UID SEARCH RETURN (MIN MAX COUNT SAVE) UID 1:*", b"SEARCH MODSEQ 1 YOUNGER 100",
    b"SEARCH TEXT {5}\r\nzebra", b"COPY 1:2 Fuzz/copy", b"UID MOVE 1 Fuzz/moved",
    b"EXPUNGE", b"UID EXPUNGE 1:*", b"CLOSE",
]
IDLING = [b"DONE", b"done", b"DONE ", b"DON", b"*"] + SELECTED
CORPUS = {"plaintext": NOT_AUTHENTICATED, "starttls": NOT_AUTHENTICATED,
          "authenticated": AUTHENTICATED, "selected": SELECTED, "examined": SELECTED,
          "idling": IDLING}

HUGE = [b"0", b"00", b"-1", b"4294967295", b"4294967296", b"9223372036854775807",
        b"18446744073709551616", b"9" * 30, b"9" * 200]
TOKENS = [b" ", b"(", b")", b"[", b"]", b"<", b">", b".", b'"', b"\\", b"{", b"}", b"~", b"+",
          b"*", b"%", b"$", b":", b",", b"\r\n", b"\n", b"\r", b"\x00", b"\xc3\xa9", b"\xff",
          b"NIL", b"UID", b"BODY[", b"{3}\r\n", b"{3+}\r\n", b"~{3}\r\n", b"{0}\r\n", b"&",
          b"&AOk-", b"\\Seen", b"INBOX", b"..", b"/", b"(" * 70, b")" * 70] + HUGE


@st.composite
def mutated(draw: st.DrawFn, corpus: list[bytes]) -> bytes:
    """A real command with a few octets or tokens changed."""
    command = bytearray(draw(st.sampled_from(corpus)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(command)))
        action = draw(st.sampled_from(["delete", "insert", "replace", "truncate", "dup"]))
        if action == "delete":
            del command[at:at + draw(st.integers(1, 8))]
        elif action == "insert":
            command[at:at] = draw(st.sampled_from(TOKENS) | st.binary(min_size=1, max_size=4))
        elif action == "replace" and at < len(command):
            command[at] = draw(st.integers(0, 255))
        elif action == "truncate":
            del command[at:]
        else:
            command[at:at] = command[at:at + draw(st.integers(1, 20))]
    return bytes(command)


@st.composite
def huge_numbers(draw: st.DrawFn, corpus: list[bytes]) -> bytes:
    """A real command with its numbers replaced by out-of-range ones."""
    command = draw(st.sampled_from([c for c in corpus if re.search(rb"\d", c)]))
    return re.sub(rb"\d+", lambda _: draw(st.sampled_from(HUGE)), command)


@st.composite
def wrong_literals(draw: st.DrawFn) -> bytes:
    """A literal whose announced size is not what follows."""
    head = draw(st.sampled_from([b"APPEND Fuzz", b"LOGIN", b"SEARCH TEXT", b"CREATE",
                                 b"FETCH 1 BODY[HEADER.FIELDS (", b"STATUS", b"ID (\"a\""]))
    size = draw(st.sampled_from([0, 1, 5, 100, 65535, 65536, 70000, 50 * 2**20 + 1])
                | st.sampled_from(HUGE).map(lambda text: int(text) if text.isdigit() else 7))
    sent = draw(st.binary(max_size=40))
    marker = draw(st.sampled_from([b"{%d}", b"{%d+}", b"~{%d}", b"~{%d+}", b"{ %d}", b"{%d"]))
    return head + b" " + marker % size + b"\r\n" + sent


@st.composite
def deep_parentheses(draw: st.DrawFn) -> bytes:
    depth = draw(st.sampled_from([2, 63, 64, 65, 200, 30000]))
    head = draw(st.sampled_from([b"FETCH 1 ", b"SEARCH ", b"ID ", b"LIST ", b"STATUS Fuzz ",
                                 b"APPEND Fuzz ", b"SELECT Fuzz ", b"STORE 1 FLAGS "]))
    middle = draw(st.sampled_from([b"FLAGS", b"ALL", b"", b"NIL", b'"x"']))
    closing = b")" * draw(st.sampled_from([0, depth - 1, depth]))
    return head + b"(" * depth + middle + closing


@st.composite
def nested_keys(draw: st.DrawFn) -> bytes:
    depth = draw(st.sampled_from([10, 64, 65, 5000]))
    return draw(st.sampled_from([b"SEARCH " + b"NOT " * depth + b"ALL",
                                 b"SEARCH " + b"OR ALL " * depth + b"ALL"]))


def inputs(state: str) -> st.SearchStrategy[bytes]:
    corpus = CORPUS[state]
    tagged = st.builds(lambda tag, body: tag + b" " + body,
                       st.sampled_from([b"a1", b"A.2", b"x]", b"*", b"+", b"", b"\xff", b"t" * 80]),
                       mutated(corpus) | huge_numbers(corpus) | wrong_literals()
                       | deep_parentheses() | nested_keys()
                       | st.sampled_from(corpus))
    kinds = {"tagged": tagged, "raw": st.binary(max_size=120),
             "long": st.sampled_from([65535, 65536, 70000]).map(lambda n: b"a1 NOOP " + b"x" * n)}
    # a line beyond the limit ends the connection: rarer where logging in again is slow
    rare = 1 if state in ("plaintext", "starttls") else 3
    kind = st.sampled_from(["tagged"] * 6 * rare + ["raw"] * 3 * rare + ["long"])
    line = kind.flatmap(kinds.__getitem__).map(lambda text: text + b"\r\n")
    if state == "idling":  # the first line answers IDLE
        line = line | st.sampled_from(IDLING).map(lambda text: text + b"\r\n")
    return st.lists(line, min_size=1, max_size=3).map(b"".join)


# -- the server and the clients ----------------------------------------------------------------

@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IMAPServer]:
    # failed logins are the point here: no throttling of the fuzzer's address
    yield from serve_imap(tmp_path_factory.mktemp("imapfuzz"),
                          auth={"failures_per_source": 10000, "failures_per_account": 10000})


def data_files(server: IMAPServer) -> set[Path]:
    return {path for path in server.config.parent.parent.rglob("*")}


def alice_root(server: IMAPServer) -> Path:
    return server.config.parent / "mail" / "alice"


class Fuzzer:
    """Clients in each state; the one of an authenticated state is reused while it lasts."""

    def __init__(self, server: IMAPServer) -> None:
        self.server = server
        self.clients: dict[str, RawIMAP] = {}
        seed = self.logged_in()
        seed.command(b"CREATE Fuzz")
        for message in MESSAGES:
            seed.command(b"APPEND Fuzz {%d+}\r\n" % len(message) + message)
        seed.close()
        self.before = data_files(server)

    def logged_in(self) -> RawIMAP:
        raw = RawIMAP(self.server)
        raw.sock.settimeout(ANSWER_WITHIN)
        assert raw.login()[-1].split(b" ")[1] == b"OK"
        return raw

    def client(self, state: str) -> RawIMAP:
        """A client in `state`, ready for the input."""
        if state in ("plaintext", "starttls"):
            raw = RawIMAP(self.server, implicit_tls=False)
            raw.sock.settimeout(ANSWER_WITHIN)
            if state == "starttls":
                raw.starttls()
            return raw
        for attempt in range(2):
            raw = self.clients.get(state)
            try:
                if raw is None:
                    raw = self.clients[state] = self.logged_in()
                self._enter(raw, state)
                return raw
            except (OSError, ConnectionError, AssertionError):
                if attempt:
                    raise
                self.drop(state)
        raise AssertionError("unreachable")

    def _enter(self, raw: RawIMAP, state: str) -> None:
        raw.sock.settimeout(ANSWER_WITHIN)
        if state == "authenticated":
            raw.command(b"UNSELECT")  # BAD when nothing is selected, which is fine
            assert raw.command(b"NOOP")[-1].split(b" ")[1] == b"OK"
            return
        select = b"EXAMINE Fuzz" if state == "examined" else b"SELECT Fuzz"
        lines = raw.command(select)
        if lines[-1].split(b" ")[1] == b"NO":  # the input renamed or deleted it
            raw.command(b"CREATE Fuzz")
            lines = raw.command(select)
        assert lines[-1].split(b" ")[1] == b"OK", lines
        exists = next(int(line.split()[1]) for line in lines if line.endswith(b" EXISTS"))
        if exists < 2:  # the input expunged or moved them: put messages back
            for message in MESSAGES:
                raw.command(b"APPEND Fuzz {%d+}\r\n" % len(message) + message)
        if state == "idling":
            raw.send(b"idle IDLE\r\n")
            assert raw.line() == b"+ idling"

    def drop(self, state: str) -> None:
        raw = self.clients.pop(state, None)
        if raw is not None:
            raw.close()

    def close(self) -> None:
        for state in list(self.clients):
            self.drop(state)


@pytest.fixture(scope="module")
def fuzzer(fuzz_server: IMAPServer) -> Iterator[Fuzzer]:
    fuzzer = Fuzzer(fuzz_server)
    yield fuzzer
    fuzzer.close()


def literal_sizes(data: bytes) -> list[int]:
    """The sizes of the literals `data` announces (absurd ones as 10**18)."""
    return [int(size) if len(size) <= 18 else 10**18 for size in _ANNOUNCED.findall(data)]


def answers(raw: RawIMAP, data: bytes) -> tuple[list[bytes], str]:
    """Send `data`, fillers and sentinel NOOPs; read every answer. Returns the lines (literal
    data left out) and how it ended: "answered", "closed", "switched" (STARTTLS or COMPRESS
    began: what follows is not lines), or "waiting" (no answer within ANSWER_WITHIN seconds)."""
    announced = literal_sizes(data)
    filler = max([size for size in announced if size <= FILLER_CAP], default=0)
    # a literal too large to fill keeps the server reading (or discarding) it: no answer
    patience = 0.5 if any(size > FILLER_CAP for size in announced) else ANSWER_WITHIN
    raw.sock.settimeout(patience)
    sentinels = b"".join(b"zz%d NOOP\r\n" % n for n in range(1, SENTINELS + 1))
    last = b"zz%d " % SENTINELS
    raw.send(data + b"\r\n" + (b"X" * filler + b"\r\n" if filler else b"") + sentinels)
    lines: list[bytes] = []
    deadline = time.monotonic() + patience
    while True:
        try:
            line = raw.line()
            while (match := _LITERAL_AT_END.search(line)) is not None:
                size = int(match.group(1))
                while len(raw.buffer) < size:
                    chunk = raw.sock.recv(65536)
                    if not chunk:
                        raise ConnectionError("closed inside a literal")
                    raw.buffer += chunk
                raw.buffer = raw.buffer[size:]  # the literal's octets are data, not protocol
                line = line[:match.start()] + b"{literal}" + raw.line()
        except (ConnectionError, ConnectionResetError, BrokenPipeError):
            return lines, "closed"
        except TimeoutError:
            return lines, "waiting"
        lines.append(line)
        if re.fullmatch(_TAG + rb" OK (?:Begin TLS negotiation now|DEFLATE active)", line):
            return lines, "switched"
        if line.startswith(last):
            return lines, "answered"
        if time.monotonic() > deadline:
            return lines, "waiting"


def check_protocol(lines: list[bytes], sent: bytes) -> None:
    """Every line is a response line; a tagged one carries a tag the client sent."""
    tags = {line.split(b" ", 1)[0] for line in re.split(rb"\r?\n", sent)}
    for line in lines:
        assert all(0 < octet < 0x80 for octet in line), f"8-bit or NUL octets in {line!r}"
        assert _TAGGED.fullmatch(line) or _UNTAGGED.fullmatch(line) or \
            _CONTINUATION.fullmatch(line), f"not an IMAP response line: {line!r}"
        tag = line.split(b" ", 1)[0]
        if _TAGGED.fullmatch(line) and tag != b"*" and tag.strip(b"X"):  # X...: the filler
            assert tag in tags, f"a tag the client never sent: {line[:200]!r}"
        if b" FETCH (" not in line:
            assert not _NOT_FOR_CLIENTS.search(line), f"a bug shows on the wire: {line!r}"


def still_serving(server: IMAPServer) -> None:
    with socket.create_connection(("127.0.0.1", server.imap), timeout=ANSWER_WITHIN) as probe:
        probe.sendall(b"p NOOP\r\n")
        received = b""
        while b"p OK" not in received:
            chunk = probe.recv(4096)
            assert chunk, f"the server closed a new connection: {received!r}"
            received += chunk
        assert received.startswith(b"* OK [CAPABILITY "), received


# -- the properties ------------------------------------------------------------------------------

def _fuzz(fuzzer: Fuzzer, state: str, data: bytes) -> None:
    raw = fuzzer.client(state)
    lines, ending = answers(raw, data)
    try:
        check_protocol(lines, data + b"\r\nidle \r\n" + b"\r\n".join(
            b"zz%d " % n for n in range(1, SENTINELS + 1)))
        if ending == "waiting":
            big = [size for size in literal_sizes(data) if size > FILLER_CAP]
            assert big, f"no answer to the NOOPs after the input; got {lines}"
    finally:
        if ending != "answered" or state in ("plaintext", "starttls"):
            if state in ("plaintext", "starttls"):
                raw.close()
            else:
                fuzzer.drop(state)
    still_serving(fuzzer.server)


FUZZ = settings(max_examples=100, deadline=None, print_blob=True,
                phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ
@given(inputs("plaintext"))
def test_fuzz_before_starttls(fuzzer, data):
    _fuzz(fuzzer, "plaintext", data)


@FUZZ
@given(inputs("starttls"))
def test_fuzz_after_starttls(fuzzer, data):
    _fuzz(fuzzer, "starttls", data)


@FUZZ
@given(inputs("authenticated"))
def test_fuzz_authenticated(fuzzer, data):
    _fuzz(fuzzer, "authenticated", data)


@FUZZ
@given(inputs("selected"))
def test_fuzz_selected(fuzzer, data):
    _fuzz(fuzzer, "selected", data)


@FUZZ
@given(inputs("examined"))
def test_fuzz_selected_read_only(fuzzer, data):
    _fuzz(fuzzer, "examined", data)


@FUZZ
@given(inputs("idling"))
def test_fuzz_idling(fuzzer, data):
    _fuzz(fuzzer, "idling", data)


def test_nothing_written_outside_the_maildir(fuzzer, fuzz_server):
    """Run last: after all the fuzzing, new files are alice's folders and messages, or the
    database's and the log's; the log shows no traceback."""
    data = fuzz_server.config.parent
    allowed = {data / name for name in ("mfserver.sqlite3", "mfserver.sqlite3-wal",
                                        "mfserver.sqlite3-shm", "mfserver.sqlite3-journal",
                                        "twistd.log")}
    root = alice_root(fuzz_server)
    new = {path for path in data_files(fuzz_server) - fuzzer.before
           if path not in allowed and root not in path.parents}
    assert not new, f"files outside the maildir: {sorted(new)}"
    log = (data / "twistd.log").read_text(errors="replace")
    assert "Traceback" not in log, log[log.index("Traceback") - 2000:][:6000]
