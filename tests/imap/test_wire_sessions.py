"""Several sessions on one mailbox: each sees the others' changes at the moments RFC 3501
allows, and IDLE announces new mail within a second."""

from __future__ import annotations

import itertools
import select
import time

import pytest

from tests.imap.conftest import RawIMAP
from tests.imap.test_wire_mailboxes import MESSAGE, append

_names = itertools.count(1)


@pytest.fixture
def pair(imap_server):
    first, second = RawIMAP(imap_server), RawIMAP(imap_server)
    first.login()
    second.login()
    name = b"Shared%d" % next(_names)
    first.command(b"CREATE " + name)
    for _ in range(3):
        append(first, name)
    first.command(b"SELECT " + name)
    second.command(b"SELECT " + name)
    yield first, second, name
    first.close()
    second.close()


def lines_within(client: RawIMAP, seconds: float) -> list[bytes]:
    """Untagged lines that arrive within `seconds`."""
    found = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if b"\r\n" in client.buffer:
            found.append(client.line())
            continue
        ready, _, _ = select.select([client.sock], [], [], max(deadline - time.monotonic(), 0))
        if ready:
            chunk = client.sock.recv(65536)
            if not chunk:
                break
            client.buffer += chunk
    return found


def test_flag_changes_reach_the_other_session_at_noop(pair):
    first, second, _ = pair
    first.command(b"STORE 2 +FLAGS (\\Flagged)")
    assert second.command(b"NOOP")[:2] == [b"* 2 FETCH (UID 2 FLAGS (\\Flagged))",
                                            b"t3 OK NOOP completed"]
    assert second.command(b"NOOP") == [b"t4 OK NOOP completed"]


def test_expunge_waits_until_a_command_allows_it(pair):
    first, second, _ = pair
    first.command(b"STORE 1 +FLAGS.SILENT (\\Deleted)")
    first.command(b"EXPUNGE")
    lines = second.command(b"FETCH 3 UID")
    assert lines[0] == b"* 3 FETCH (UID 3)"  # numbering unchanged mid-FETCH
    assert b"EXPUNGE" not in b"".join(lines)
    lines = second.command(b"NOOP")
    assert lines[0] == b"* 1 EXPUNGE"
    assert second.command(b"FETCH 2 UID")[0] == b"* 2 FETCH (UID 3)"


def test_new_messages_are_announced(pair):
    first, second, name = pair
    append(first, name)
    assert second.command(b"NOOP")[:2] == [b"* 4 EXISTS", b"* 1 RECENT"]


def test_idle_announces_an_append_within_a_second(pair):
    first, second, name = pair
    second.send(b"i1 IDLE\r\n")
    assert second.line() == b"+ idling"
    lines_within(second, 0.3)
    started = time.monotonic()
    append(first, name)
    seen = lines_within(second, 1.0)
    assert b"* 4 EXISTS" in seen, seen
    assert time.monotonic() - started < 1.5
    second.send(b"DONE\r\n")
    assert second.until(b"i1")[-1] == b"i1 OK IDLE terminated"


def test_idle_tells_flag_changes_and_expunges(pair):
    first, second, _ = pair
    second.send(b"i1 IDLE\r\n")
    second.line()
    first.command(b"STORE 3 +FLAGS.SILENT (\\Deleted)")
    first.command(b"EXPUNGE")
    seen = lines_within(second, 1.0)
    assert b"* 3 FETCH (UID 3 FLAGS (\\Deleted))" in seen or b"* 3 EXPUNGE" in seen
    assert b"* 3 EXPUNGE" in seen + lines_within(second, 0.5)
    second.send(b"DONE\r\n")
    second.until(b"i1")


def test_idle_sees_mail_delivered_by_another_process(pair, imap_server):
    first, second, _ = pair
    second.command(b"SELECT INBOX")
    second.send(b"i1 IDLE\r\n")
    second.line()
    imap_server.cli("deliver", "alice", stdin=MESSAGE)
    seen = lines_within(second, 7.0)
    assert any(line.endswith(b" EXISTS") for line in seen), seen
    second.send(b"DONE\r\n")
    second.until(b"i1")
