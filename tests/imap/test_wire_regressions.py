"""Bugs real clients found, each as the shortest transcript that shows it.

Every test names the client (or the property or fuzz test) that found the bug and the rule
the server broke.
"""

from __future__ import annotations

import re
import select
import time

from tests.imap.conftest import RawIMAP
from tests.imap.test_wire_mailboxes import append


def closed_within(raw: RawIMAP, seconds: float) -> float | None:
    """Seconds until the server ended the connection cleanly (TLS close, then EOF);
    None if it did not within `seconds`, or ended it with a reset."""
    started = time.monotonic()
    deadline = started + seconds
    while (left := deadline - time.monotonic()) > 0:
        if not raw.sock.pending() and not select.select([raw.sock], [], [], left)[0]:
            return None
        try:
            if not raw.sock.recv(65536):
                return time.monotonic() - started
        except ConnectionResetError:
            return None
    return None


def test_logout_closes_the_connection_at_once(raw):
    """mbsync waits for the server to close after LOGOUT; it waited five seconds and then
    saw "Connection reset by peer". RFC 3501 6.1.3: the server sends BYE and the tagged OK,
    "and then close[s] the network connection"."""
    raw.login()
    assert raw.command(b"LOGOUT") == [b"* BYE Logging out", b"t2 OK Logout completed"]
    assert closed_within(raw, 2.0) is not None


def test_logout_closes_at_once_before_login_too(raw):
    assert raw.command(b"LOGOUT") == [b"* BYE Logging out", b"t1 OK Logout completed"]
    assert closed_within(raw, 2.0) is not None


def test_logout_closes_at_once_after_starttls(imap_server):
    raw = RawIMAP(imap_server, implicit_tls=False)
    raw.starttls()
    raw.login()
    assert raw.command(b"LOGOUT")[-1] == b"t3 OK Logout completed"
    assert closed_within(raw, 2.0) is not None
    raw.close()


# -- found by the consistency property (test_wire_consistency) --------------------------------

def _two_sessions_on(imap_server, messages: int) -> tuple[RawIMAP, RawIMAP, bytes]:
    """Two logged-in sessions with a new folder of `messages` messages selected."""
    first, second = RawIMAP(imap_server), RawIMAP(imap_server)
    first.login()
    second.login()
    name = b"Regression%d" % time.monotonic_ns()
    first.command(b"CREATE " + name)
    for _ in range(messages):
        append(first, name)
    first.command(b"SELECT " + name)
    second.command(b"SELECT " + name)
    return first, second, name


def test_flag_changes_after_an_expunge_carry_the_new_message_number(imap_server):
    """The FETCH lines telling another session's flag changes were numbered before the
    EXPUNGEs sent ahead of them: `* 1 EXPUNGE` then `* 3 FETCH` in a mailbox of two. RFC 3501
    7.4.1: an EXPUNGE renumbers the messages after it at once."""
    first, second, _ = _two_sessions_on(imap_server, 3)
    first.command(b"STORE 3 +FLAGS.SILENT (\\Flagged)")
    first.command(b"STORE 1 +FLAGS.SILENT (\\Deleted)")
    first.command(b"EXPUNGE")
    assert second.command(b"NOOP")[:3] == [b"* 1 EXPUNGE",
                                           b"* 2 FETCH (UID 3 FLAGS (\\Flagged))",
                                           b"t3 OK NOOP completed"]
    second.command(b"ENABLE QRESYNC")
    first.command(b"STORE 2 +FLAGS.SILENT (\\Seen)")
    first.command(b"STORE 1 +FLAGS.SILENT (\\Deleted)")
    first.command(b"EXPUNGE")
    lines = second.command(b"NOOP")
    assert lines[0] == b"* VANISHED 2"
    assert re.fullmatch(rb"\* 1 FETCH \(UID 3 FLAGS \(\\Seen \\Flagged\) MODSEQ \(\d+\)\)", lines[1])
    first.close()
    second.close()


def test_expunges_held_during_store_are_told_by_the_next_expunge(imap_server):
    """An EXPUNGE held back while STORE was answered was not told by this session's own
    EXPUNGE when that removed nothing, nor by any command until the mailbox changed again:
    the client kept showing a message that was gone. RFC 3501 7.4.1 only forbids the
    EXPUNGE during FETCH, STORE and SEARCH."""
    first, second, _ = _two_sessions_on(imap_server, 2)
    first.command(b"STORE 1 +FLAGS.SILENT (\\Deleted)")
    first.command(b"EXPUNGE")
    assert second.command(b"STORE 2 +FLAGS.SILENT (\\Seen)") == [b"t3 OK STORE completed"]
    assert second.command(b"EXPUNGE") == [b"* 1 EXPUNGE", b"t4 OK EXPUNGE completed"]
    first.close()
    second.close()


def test_silent_store_still_tells_flags_another_session_changed(imap_server):
    """STORE .SILENT answered nothing when another session had changed the same message's
    flags since this one last heard: that change was taken for this session's own echo, and
    the client never learnt of it. RFC 3501 6.4.6: "Regardless of whether or not the
    ".SILENT" suffix was used, the server SHOULD send an untagged FETCH response if a change
    to a message's flags from an external source is observed"."""
    first, second, _ = _two_sessions_on(imap_server, 2)
    first.command(b"STORE 1 +FLAGS.SILENT (\\Flagged)")
    assert second.command(b"STORE 1 +FLAGS.SILENT (\\Seen)") == [
        b"* 1 FETCH (UID 1 FLAGS (\\Seen \\Flagged))", b"t3 OK STORE completed"]
    assert second.command(b"STORE 1 -FLAGS.SILENT (\\Seen)") == [b"t4 OK STORE completed"]
    first.close()
    second.close()


# -- found by the fuzz tests (test_wire_fuzz) ----------------------------------------------------

def test_a_refused_literal_is_answered_with_a_valid_tag(raw):
    """A literal too large was refused with whatever stood before the first space as the tag:
    `+ NO [TOOBIG] ...` looked like a continuation request, an empty or 8-bit "tag" made a
    line no client can parse. RFC 3501 9: tag = 1*<any ASTRING-CHAR except "+">; what is
    not a tag gets an untagged answer, as a command whose tag cannot be read does."""
    raw.login()
    raw.send(b"+ APPEND INBOX {999999999}\r\n")
    assert raw.line() == b"* NO [TOOBIG] Message larger than APPENDLIMIT"
    raw.send(b"\xff FETCH 1 BODY[HEADER.FIELDS {70000}\r\n")
    assert raw.line() == b"* BAD [TOOBIG] Literal too large"
    tag = b"t" * 80
    raw.send(tag + b" APPEND INBOX {999999999}\r\n")
    assert raw.line() == tag + b" NO [TOOBIG] Message larger than APPENDLIMIT"
    assert raw.command(b"NOOP")[-1].endswith(b"OK NOOP completed")


def test_store_errors_about_international_names_stay_7bit(raw):
    """`NO [ALREADYEXISTS] folder '\\xe2\\x98\\xba' already exists`: the store's message held
    the decoded name, and the reply went out in UTF-8. RFC 3501 9: resp-text is TEXT-CHAR,
    7-bit (without UTF8=ACCEPT, RFC 6855)."""
    raw.login()
    assert raw.command(b"CREATE &Jjo-")[-1] == b"t2 OK CREATE completed"
    reply = raw.command(b"CREATE &Jjo-")[-1]
    assert reply.startswith(b"t3 NO [ALREADYEXISTS] ") and reply.isascii(), reply
    raw.command(b"DELETE &Jjo-")


def test_broken_data_pipelined_after_compress_closes_the_connection(raw):
    """Octets sent right behind COMPRESS DEFLATE that do not inflate raised out of the
    command: the client got a compressed `NO [SERVERBUG]` and a connection in no known
    state. Broken compressed data ends the connection, as it does when it comes later
    (RFC 4978 4: the stream is deflate from the octet after the CRLF of the command)."""
    raw.login()
    raw.send(b"c1 COMPRESS DEFLATE\r\n" + b"\xff" * 20)
    assert raw.line() == b"c1 OK DEFLATE active"
    assert raw.buffer == b""
    assert closed_within(raw, 2.0) is not None
