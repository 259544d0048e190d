"""Message commands on the wire: FETCH, STORE, SEARCH, COPY, MOVE, EXPUNGE and their UID forms."""

from __future__ import annotations

import itertools
import re

import pytest

from tests.imap.conftest import RawIMAP
from tests.imap.test_wire_mailboxes import append

_folders = itertools.count(1)

PLAIN = (b"From: Alice <alice@example.org>\r\nTo: Bob <bob@example.org>\r\n"
         b"Subject: first\r\nDate: Mon, 02 Jan 2023 10:00:00 +0100\r\n"
         b"Message-ID: <one@example.org>\r\n\r\nHello Bob, the word is zebra.\r\n")
MULTIPART = (b"From: Carol <carol@example.net>\r\nTo: alice@example.org\r\n"
             b"Subject: =?UTF-8?B?w6ljb2xl?=\r\nDate: Tue, 03 Jan 2023 11:00:00 +0000\r\n"
             b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
             b"preamble\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
             b"Part one text\r\n--b1\r\nContent-Type: application/octet-stream\r\n"
             b"Content-Transfer-Encoding: base64\r\n"
             b"Content-Disposition: attachment; filename=\"a.bin\"\r\n\r\n"
             b"AAECAwQ=\r\n--b1--\r\n")


@pytest.fixture
def folder(raw: RawIMAP) -> bytes:
    """A new folder with PLAIN (uid 1), MULTIPART (uid 2), PLAIN seen (uid 3), selected."""
    raw.login()
    name = b"Msgs%d" % next(_folders)
    raw.command(b"CREATE " + name)
    append(raw, name, PLAIN)
    append(raw, name, MULTIPART)
    append(raw, name, PLAIN, flags=b"(\\Seen)")
    raw.command(b"SELECT " + name)
    return name


def test_fetch_fast_items_and_envelope(raw, folder):
    lines = raw.command(b"FETCH 1:* (UID FLAGS RFC822.SIZE)")
    assert lines[:3] == [
        b"* 1 FETCH (UID 1 FLAGS () RFC822.SIZE %d)" % len(PLAIN),
        b"* 2 FETCH (UID 2 FLAGS () RFC822.SIZE %d)" % len(MULTIPART),
        b"* 3 FETCH (UID 3 FLAGS (\\Seen) RFC822.SIZE %d)" % len(PLAIN)]
    envelope = raw.command(b"FETCH 1 ENVELOPE")[0]
    assert envelope == (b'* 1 FETCH (ENVELOPE ("Mon, 02 Jan 2023 10:00:00 +0100" "first" '
                        b'(("Alice" NIL "alice" "example.org")) (("Alice" NIL "alice" '
                        b'"example.org")) (("Alice" NIL "alice" "example.org")) (("Bob" NIL '
                        b'"bob" "example.org")) NIL NIL NIL "<one@example.org>"))')


def test_fetch_bodystructure_and_sections(raw, folder):
    structure = raw.command(b"FETCH 2 BODYSTRUCTURE")[0]
    # the CRLF before a boundary belongs to the boundary (RFC 2046 5.1.1)
    assert structure.startswith(b'* 2 FETCH (BODYSTRUCTURE (("TEXT" "PLAIN" ("CHARSET" '
                                b'"utf-8") NIL NIL "7BIT" 13 0')
    assert b'"MIXED" ("BOUNDARY" "b1")' in structure
    part = raw.command(b"FETCH 2 BODY.PEEK[1]")[0]
    assert part == b"* 2 FETCH (BODY[1] {13}\r\nPart one text)"
    mime = raw.command(b"FETCH 2 BODY.PEEK[2.MIME]")[0]
    assert b"Content-Disposition: attachment" in mime
    header = raw.command(b"FETCH 1 BODY.PEEK[HEADER.FIELDS (Subject FROM)]")[0]
    assert header == (b"* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT FROM)] {51}\r\n"
                      b"From: Alice <alice@example.org>\r\nSubject: first\r\n\r\n)")
    partial = raw.command(b"FETCH 1 BODY.PEEK[TEXT]<6.3>")[0]
    assert partial == b"* 1 FETCH (BODY[TEXT]<6> {3}\r\nBob)"
    assert raw.command(b"FETCH 1 FLAGS")[0] == b"* 1 FETCH (FLAGS ())"


def test_fetch_body_sets_seen_and_rfc822(raw, folder):
    lines = raw.command(b"FETCH 1 BODY[TEXT]")
    assert lines[0].startswith(b"* 1 FETCH (")
    assert b"FLAGS (\\Seen)" in lines[0]
    whole = raw.command(b"UID FETCH 1 RFC822")[0]
    assert whole == b"* 1 FETCH (UID 1 RFC822 {%d}\r\n" % len(PLAIN) + PLAIN + b")"


def test_fetch_errors(raw, folder):
    assert raw.command(b"FETCH 9 FLAGS")[-1].endswith(
        b"BAD Invalid message number: message number out of range")
    assert b" BAD " in raw.command(b"FETCH 1:x FLAGS")[-1]
    assert b" BAD " in raw.command(b"FETCH 1 (FLAGS")[-1]
    assert b" BAD " in raw.command(b"FETCH 1 BODY[0]")[-1]
    assert raw.command(b"UID FETCH 99 FLAGS")[-1].endswith(b"OK FETCH completed")


def test_store_and_condstore(raw, folder):
    assert raw.command(b"STORE 1 +FLAGS (\\Flagged $Work)")[0] == \
        b"* 1 FETCH (UID 1 FLAGS (\\Flagged $Work))"
    assert raw.command(b"STORE 1 -FLAGS.SILENT (\\Flagged)") == [b"t%d OK STORE completed"
                                                                 % raw.counter]
    assert raw.command(b"UID STORE 1:2 FLAGS (\\Answered)")[:2] == [
        b"* 1 FETCH (UID 1 FLAGS (\\Answered))", b"* 2 FETCH (UID 2 FLAGS (\\Answered))"]
    raw.command(b"ENABLE CONDSTORE")
    lines = raw.command(b"FETCH 1 (FLAGS MODSEQ)")
    modseq = int(re.search(rb"MODSEQ \((\d+)\)", lines[0]).group(1))
    raw.command(b"STORE 1 +FLAGS (\\Draft)")
    stale = raw.command(b"STORE 1 (UNCHANGEDSINCE %d) +FLAGS (\\Seen)" % modseq)
    assert stale[-1].split(b" ", 1)[1] == b"OK [MODIFIED 1] Conditional STORE failed"
    changed = raw.command(b"FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % modseq)
    assert len(changed) == 2 and changed[0].startswith(b"* 1 FETCH (")
    assert raw.command(b"STORE 1 +FLAGS (\\Recent)")[-1].endswith(
        b"BAD flag cannot be stored: \\Recent")


def test_search(raw, folder):
    assert raw.command(b"SEARCH ALL")[0] == b"* SEARCH 1 2 3"
    assert raw.command(b"SEARCH UNSEEN")[0] == b"* SEARCH 1 2"
    assert raw.command(b"UID SEARCH SEEN")[0] == b"* SEARCH 3"
    assert raw.command(b"SEARCH FROM carol")[0] == b"* SEARCH 2"
    assert raw.command(b"SEARCH SUBJECT \"\xc3\xa9cole\"")[0] == b"* SEARCH 2"
    assert raw.command(b"SEARCH CHARSET UTF-8 SUBJECT \"\xc3\x89COLE\"")[0] == b"* SEARCH 2"
    assert raw.command(b"SEARCH BODY zebra")[0] == b"* SEARCH 1 3"
    assert raw.command(b"SEARCH OR FROM carol NOT UNSEEN")[0] == b"* SEARCH 2 3"
    assert raw.command(b"SEARCH 2:* LARGER 10")[0] == b"* SEARCH 2 3"
    assert raw.command(b"SEARCH SINCE 3-Jan-2023 SENTSINCE 3-Jan-2023")[0] == b"* SEARCH 2"
    assert raw.command(b"SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN")[0] == \
        b'* ESEARCH (TAG "t%d") MIN 1 MAX 2 ALL 1:2 COUNT 2' % raw.counter
    assert raw.command(b"UID SEARCH RETURN (SAVE) SEEN") == [b"t%d OK SEARCH completed"
                                                             % raw.counter]
    assert raw.command(b"FETCH $ UID")[0] == b"* 3 FETCH (UID 3)"
    assert raw.command(b"SEARCH CHARSET KOI8-R ALL")[-1].endswith(
        b"NO [BADCHARSET (UTF-8 US-ASCII)] unsupported charset KOI8-R")
    assert raw.command(b"SEARCH (OR FROM)")[-1].endswith(b"BAD expected a space")


def test_copy_move_and_expunge(raw, folder):
    raw.command(b"CREATE Target%s" % folder)
    lines = raw.command(b"COPY 1:2 Target%s" % folder)
    assert re.fullmatch(rb"t\d+ OK \[COPYUID \d+ 1:2 1:2\] COPY completed", lines[-1])
    assert raw.command(b"COPY 1 Nowhere")[-1].endswith(b"NO [TRYCREATE] No such mailbox")
    lines = raw.command(b"UID MOVE 2 Target%s" % folder)
    assert re.fullmatch(rb"\* OK \[COPYUID \d+ 2 3\] Moved", lines[0])
    assert lines[1] == b"* 2 EXPUNGE"
    raw.command(b"STORE 1 +FLAGS.SILENT (\\Deleted)")
    assert raw.command(b"EXPUNGE")[:2] == [b"* 1 EXPUNGE", b"t%d OK EXPUNGE completed" %
                                           raw.counter]
    assert raw.command(b"FETCH 1 UID")[0] == b"* 1 FETCH (UID 3)"
    raw.command(b"STORE 1 +FLAGS.SILENT (\\Deleted)")
    assert raw.command(b"UID EXPUNGE 1:2")[0] == b"t%d OK EXPUNGE completed" % raw.counter
    assert raw.command(b"UID EXPUNGE 3")[0] == b"* 1 EXPUNGE"


def test_qresync_vanished(raw, folder):
    assert raw.command(b"UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")[-1].endswith(
        b"BAD VANISHED needs UID FETCH, CHANGEDSINCE and QRESYNC enabled")
    assert raw.command(b"ENABLE QRESYNC")[0] == b"* ENABLED QRESYNC"
    raw.command(b"SELECT " + folder)
    modseq = int(re.search(rb"HIGHESTMODSEQ (\d+)", b"".join(
        raw.command(b"STATUS " + folder + b" (HIGHESTMODSEQ)"))).group(1))
    raw.command(b"STORE 1 +FLAGS.SILENT (\\Deleted)")
    raw.command(b"EXPUNGE")
    raw.command(b"STORE 1 +FLAGS.SILENT (\\Flagged)")
    lines = raw.command(b"UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % modseq)
    assert lines[0] == b"* VANISHED (EARLIER) 1"
    assert re.fullmatch(rb"\* 1 FETCH \(UID 2 FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)", lines[1])
    raw.command(b"UNSELECT")
    validity = int(re.search(rb"UIDVALIDITY (\d+)", b"".join(
        raw.command(b"STATUS " + folder + b" (UIDVALIDITY)"))).group(1))
    lines = raw.command(b"SELECT %s (QRESYNC (%d %d))" % (folder, validity, modseq))
    assert b"* VANISHED (EARLIER) 1" in lines
    assert any(re.fullmatch(rb"\* 1 FETCH \(UID 2 FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)", line)
               for line in lines)


def test_quota(raw, folder):
    lines = raw.command(b"GETQUOTAROOT INBOX")
    assert lines[0] == b'* QUOTAROOT "INBOX" ""'
    assert re.fullmatch(rb'\* QUOTA "" \(STORAGE \d+ 2097152\)', lines[1])
    assert raw.command(b'GETQUOTA "x"')[-1].endswith(b"NO [NONEXISTENT] No such quota root")
    assert raw.command(b'SETQUOTA "" (STORAGE 1)')[-1].endswith(b"NO [NOPERM] Quotas are set "
                                                                b"by the administrator")


def test_close_expunges_silently_and_unselect_does_not(raw, folder):
    raw.command(b"STORE 1 +FLAGS.SILENT (\\Deleted)")
    assert raw.command(b"UNSELECT")[-1].endswith(b"OK UNSELECT completed")
    raw.command(b"SELECT " + folder)
    assert raw.command(b"CLOSE") == [b"t%d OK CLOSE completed" % raw.counter]
    assert b"MESSAGES 2" in raw.command(b"STATUS " + folder + b" (MESSAGES)")[0]
