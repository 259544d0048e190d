"""The TRANSACTION and UPDATE states on the wire: STAT, LIST, UIDL, RETR, TOP, DELE, RSET, NOOP,
QUIT, and what the store keeps of them."""

from __future__ import annotations

import re
import time

from tests.pop3.conftest import RawPOP3, message


def sizes(*messages: bytes) -> list[int]:
    return [len(m) for m in messages]


def test_stat_list_uidl_and_numbers_out_of_range(pop3_server):
    user = pop3_server.account()
    messages = [message(n) for n in (1, 2, 3)]
    pop3_server.deliver(user, *messages)
    client = RawPOP3(pop3_server)
    assert client.login(user) == \
        f"+OK Logged in; 3 messages ({sum(sizes(*messages))} octets)".encode()
    assert client.command(b"STAT") == f"+OK 3 {sum(sizes(*messages))}".encode()
    assert client.multi(b"LIST") == [
        f"+OK 3 messages ({sum(sizes(*messages))} octets)".encode(),
        *(f"{n} {len(m)}".encode() for n, m in enumerate(messages, 1))]
    assert client.command(b"LIST 2") == f"+OK 2 {len(messages[1])}".encode()
    uidl = client.multi(b"UIDL")
    assert uidl[0] == b"+OK"
    ids = [line.split(b" ")[1] for line in uidl[1:]]
    assert [line.split(b" ")[0] for line in uidl[1:]] == [b"1", b"2", b"3"]
    assert all(re.fullmatch(rb"[0-9A-F]{16}", uid) for uid in ids) and len(set(ids)) == 3
    assert client.command(b"UIDL 3") == b"+OK 3 " + ids[2]
    assert client.command(b"LIST 4") == b"-ERR No such message; the maildrop has 3"
    assert client.command(b"LIST 0") == b"-ERR No such message; the maildrop has 3"
    assert client.command(b"RETR 99999999999") == b"-ERR Invalid message number: 99999999999"
    assert client.command(b"UIDL x") == b"-ERR Invalid message number: x"
    assert client.command(b"DELE -1") == b"-ERR Invalid message number: -1"
    assert client.command(b"TOP 1 x") == b"-ERR Invalid number of lines: x"
    assert client.command(b"TOP 1 -1") == b"-ERR Invalid number of lines: -1"
    assert client.command(b"NOOP") == b"+OK"
    client.close()


def test_retr_and_top_byte_stuff_and_end_with_a_dot(pop3_server):
    user = pop3_server.account()
    body = b".starts with a dot\r\n..two dots\r\n.\r\nplain\r\n..\r\nno line end at the end"
    stuffed = message(1, body)
    pop3_server.deliver(user, stuffed)
    client = RawPOP3(pop3_server)
    client.login(user)
    # APPEND stores what it was given; RETR adds CRLF before the terminator
    lines = client.multi(b"RETR 1")
    assert lines[0] == f"+OK {len(stuffed)} octets".encode()
    assert lines[-6:] == [b"..starts with a dot", b"...two dots", b"..", b"plain", b"...",
                          b"no line end at the end"]
    assert client.multi(b"TOP 1 0") == [b"+OK", *message(1).split(b"\r\n\r\n")[0]
                                        .split(b"\r\n"), b""]
    assert client.multi(b"TOP 1 2")[-3:] == [b"", b"..starts with a dot", b"...two dots"]
    assert client.multi(b"TOP 1 100")[1:] == lines[1:]
    client.close()


def test_poplib_retr_gives_the_message_back(pop3_server):
    user = pop3_server.account()
    original = message(7, b"line one\r\n.line two\r\n\r\n.\r\nend\r\n")
    pop3_server.deliver(user, original)
    client = pop3_server.connect(user)
    answer, lines, octets = client.retr(1)
    assert answer == f"+OK {len(original)} octets".encode()
    assert b"\r\n".join(lines) + b"\r\n" == original  # poplib undoes the stuffing
    client.quit()


def test_a_big_message_streams_intact(pop3_server):
    user = pop3_server.account()
    line = b".%06d " + b"x" * 90 + b"\r\n"
    big = message(1, b"".join(line % n for n in range(60_000)))  # about 5.8 MB
    pop3_server.deliver(user, big)
    client = RawPOP3(pop3_server)
    client.login(user)
    client.send(b"RETR 1\r\n")
    assert client.line() == f"+OK {len(big)} octets".encode()
    received, client.buffer = bytearray(client.buffer), b""
    while not received.endswith(b"\r\n.\r\n"):
        if len(received) < 500_000:
            time.sleep(0.001)  # a slow reader at first: the server must wait for it
        chunk = client.sock.recv(1 << 20)
        assert chunk
        received += chunk
    text = bytes(received[:-3]).replace(b"\r\n..", b"\r\n.")
    assert text == big
    assert client.command(b"NOOP") == b"+OK"
    client.close()


def test_dele_rset_and_quit_expunge_only_what_was_deleted(pop3_server):
    user = pop3_server.account()
    pop3_server.deliver(user, *(message(n) for n in range(1, 6)))
    client = RawPOP3(pop3_server)
    client.login(user)
    before = client.multi(b"UIDL")[1:]
    assert client.command(b"DELE 2") == b"+OK Message 2 deleted"
    assert client.command(b"DELE 2") == b"-ERR Message 2 is deleted"
    assert client.command(b"RETR 2") == b"-ERR Message 2 is deleted"
    assert client.command(b"LIST 2") == b"-ERR Message 2 is deleted"
    assert client.command(b"STAT").startswith(b"+OK 4 ")
    assert [line.split()[0] for line in client.multi(b"LIST")[1:]] == [b"1", b"3", b"4", b"5"]
    assert client.command(b"RSET").startswith(b"+OK 5 messages")
    assert client.command(b"DELE 1") == b"+OK Message 1 deleted"
    assert client.command(b"DELE 4") == b"+OK Message 4 deleted"
    assert client.command(b"QUIT") == b"+OK Logging out; 2 deleted"
    assert client.closed()
    client.close()
    client = RawPOP3(pop3_server)
    client.login(user)
    after = client.multi(b"UIDL")[1:]
    # numbers start again at 1, unique ids stay with their messages
    assert [line.split()[1] for line in after] == [before[n].split()[1] for n in (1, 2, 4)]
    assert [line.split()[0] for line in after] == [b"1", b"2", b"3"]
    client.close()


def test_a_dropped_connection_deletes_nothing(pop3_server):
    user = pop3_server.account()
    pop3_server.deliver(user, message(1), message(2))
    client = RawPOP3(pop3_server)
    client.login(user)
    assert client.command(b"DELE 1") == b"+OK Message 1 deleted"
    client.close()  # no QUIT
    for _ in range(100):
        client = RawPOP3(pop3_server)
        answer = client.login(user)
        if answer.startswith(b"+OK"):
            break
        client.close()
        time.sleep(0.05)
    assert client.command(b"STAT").startswith(b"+OK 2 ")
    client.close()


def test_the_maildrop_is_a_snapshot_taken_at_login(pop3_server):
    user = pop3_server.account()
    pop3_server.deliver(user, message(1))
    client = RawPOP3(pop3_server)
    client.login(user)
    pop3_server.deliver(user, message(2))
    pop3_server.cli("deliver", user, stdin=message(3))  # another process, same store
    assert client.command(b"STAT").startswith(b"+OK 1 ")
    assert client.command(b"LIST 2") == b"-ERR No such message; the maildrop has 1"
    assert client.command(b"QUIT") == b"+OK Logging out"
    client = RawPOP3(pop3_server)
    client.login(user)
    assert client.command(b"STAT").startswith(b"+OK 3 ")
    client.close()


def test_retr_marks_seen_top_does_not(pop3_server):
    user = pop3_server.account()
    pop3_server.deliver(user, message(1), message(2), message(3))
    client = pop3_server.connect(user)
    client.retr(1)
    client.top(2, 0)
    client.dele(3)
    client.quit()
    imap = pop3_server.imap(user)
    imap.select("INBOX")
    status, data = imap.fetch("1:*", "(UID FLAGS)")
    flags = [item.decode() for item in data]
    assert len(flags) == 2
    assert "\\Seen" in flags[0] and "\\Seen" not in flags[1]
    imap.logout()


def test_seen_is_kept_when_the_client_drops_without_quit(pop3_server):
    user = pop3_server.account()
    pop3_server.deliver(user, message(1))
    client = RawPOP3(pop3_server)
    client.login(user)
    client.multi(b"RETR 1")
    client.close()
    imap = pop3_server.imap(user)
    imap.select("INBOX")
    for _ in range(100):
        data = imap.fetch("1", "(FLAGS)")[1]
        if b"\\Seen" in data[0]:
            break
        time.sleep(0.05)
    assert b"\\Seen" in data[0]
    imap.logout()


def test_retr_of_a_message_expunged_by_another_client(pop3_server):
    user = pop3_server.account()
    pop3_server.deliver(user, message(1), message(2))
    client = RawPOP3(pop3_server)
    client.login(user)
    imap = pop3_server.imap(user)
    imap.select("INBOX")
    imap.store("1", "+FLAGS", "\\Deleted")
    imap.expunge()
    imap.logout()
    assert client.command(b"STAT").startswith(b"+OK 2 ")  # the snapshot
    assert client.command(b"RETR 1") == b"-ERR Message 1 is gone; another client removed it"
    assert client.multi(b"RETR 2")[0].startswith(b"+OK")
    assert client.command(b"DELE 1") == b"+OK Message 1 deleted"
    assert client.command(b"DELE 2") == b"+OK Message 2 deleted"
    assert client.command(b"QUIT") == b"+OK Logging out; 2 deleted"
    client.close()
    client = pop3_server.connect(user)
    assert client.stat() == (0, 0)
    client.quit()


def test_unique_ids_survive_a_restart_and_are_not_reused(pop3_server):
    user = pop3_server.account()
    pop3_server.deliver(user, message(1), message(2))
    client = pop3_server.connect(user)
    first = client.uidl()[1]
    client.dele(2)
    client.quit()
    pop3_server.server.stop()
    pop3_server.server.start(wait_for=pop3_server.pop3s)
    pop3_server.deliver(user, message(3))
    client = pop3_server.connect(user)
    again = client.uidl()[1]
    client.quit()
    assert again[0] == first[0]
    assert again[1].split()[1] not in {line.split()[1] for line in first}


def test_a_file_with_bare_lf_is_sent_with_crlf_and_its_listed_size(pop3_server):
    user = pop3_server.account()
    raw = b"Subject: written by another program\n\n.dot line\nsecond line\n"
    new = pop3_server.config.parent / "mail" / user / "new"
    (new / "1700000000.M1P1.elsewhere").write_bytes(raw)
    assert "1 added" in pop3_server.cli("rescan", user)
    client = RawPOP3(pop3_server)
    client.login(user)
    listed = int(client.command(b"LIST 1").split()[2])
    lines = client.multi(b"RETR 1")
    assert lines[1:] == [b"Subject: written by another program", b"", b"..dot line",
                         b"second line"]
    assert listed == len(raw.replace(b"\n", b"\r\n")) == int(lines[0].split()[1])
    assert client.multi(b"TOP 1 1")[1:] == lines[1:4]
    client.close()


def test_retr_in_order_and_out_of_order_give_the_right_messages(pop3_server):
    """RETR reads the next message ahead; other commands in between must not be confused."""
    user = pop3_server.account()
    pop3_server.deliver(user, *(message(n) for n in range(1, 7)))
    client = RawPOP3(pop3_server)
    client.login(user)

    def subject(lines: list[bytes]) -> bytes:
        return next(line for line in lines if line.startswith(b"Subject: "))

    assert subject(client.multi(b"RETR 1")) == b"Subject: message 1"
    assert subject(client.multi(b"RETR 2")) == b"Subject: message 2"  # the one read ahead
    assert subject(client.multi(b"TOP 3 0")) == b"Subject: message 3"
    assert client.command(b"DELE 4") == b"+OK Message 4 deleted"
    assert subject(client.multi(b"RETR 3")) == b"Subject: message 3"
    assert subject(client.multi(b"RETR 5")) == b"Subject: message 5"  # 4 is skipped ahead
    assert subject(client.multi(b"RETR 1")) == b"Subject: message 1"
    assert client.command(b"QUIT") == b"+OK Logging out; 1 deleted"
    client.close()
