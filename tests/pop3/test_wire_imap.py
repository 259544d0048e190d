"""POP3 beside IMAP on one INBOX: deletions reach open IMAP sessions through the store."""

from __future__ import annotations

import re

from tests.pop3.conftest import message


def test_an_open_imap_session_sees_the_pop3_expunge_at_its_next_noop(pop3_server):
    user = pop3_server.account()
    pop3_server.deliver(user, *(message(n) for n in range(1, 5)))
    imap = pop3_server.imap(user)
    assert imap.select("INBOX") == ("OK", [b"4"])
    pop3 = pop3_server.connect(user)
    pop3.dele(2)
    pop3.dele(3)
    assert pop3.quit() == b"+OK Logging out; 2 deleted"
    status, data = imap.noop()
    expunged = [int(n) for n in imap.untagged_responses.pop("EXPUNGE", [])]
    assert status == "OK" and expunged in ([3, 2], [2, 2])  # either order is right
    status, data = imap.fetch("1:*", "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    subjects = [re.search(rb"Subject: (message \d)", item[1]).group(1)
                for item in data if isinstance(item, tuple)]
    assert subjects == [b"message 1", b"message 4"]
    imap.logout()


def test_imap_and_pop3_see_the_same_messages_and_flags(pop3_server):
    user = pop3_server.account()
    pop3_server.deliver(user, message(1), message(2))
    imap = pop3_server.imap(user)
    imap.select("INBOX")
    imap.store("2", "+FLAGS", "\\Deleted")  # flagged but not expunged: POP3 still lists it
    pop3 = pop3_server.connect(user)
    assert pop3.stat()[0] == 2
    pop3.retr(1)
    pop3.quit()
    imap.noop()
    imap.untagged_responses.pop("FETCH", None)  # what NOOP told; we ask again below
    flags = imap.fetch("1:*", "(FLAGS)")[1]
    assert b"\\Seen" in flags[0] and b"\\Seen" not in flags[1]
    assert b"\\Deleted" in flags[1]  # not POP3's to expunge: it did not DELE it
    imap.logout()
