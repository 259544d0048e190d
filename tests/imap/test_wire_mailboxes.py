"""Mailbox commands on the wire: LIST, CREATE, RENAME, DELETE, SUBSCRIBE, STATUS, SELECT, APPEND."""

from __future__ import annotations

import re

from tests.imap.conftest import RawIMAP

MESSAGE = (b"From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: hello\r\n"
           b"Date: Mon, 02 Jan 2023 10:00:00 +0100\r\nMessage-ID: <m1@example.org>\r\n\r\n"
           b"Hello Bob\r\n")


def append(raw: RawIMAP, mailbox: bytes, message: bytes = MESSAGE, flags: bytes = b"",
           date: bytes = b"") -> list[bytes]:
    raw.counter += 1
    tag = b"t%d" % raw.counter
    extra = (b" " + flags if flags else b"") + (b" " + date if date else b"")
    raw.send(tag + b" APPEND " + mailbox + extra + b" {%d}\r\n" % len(message))
    assert raw.line() == b"+ Ready for literal data"
    raw.send(message + b"\r\n")
    return raw.until(tag)


def test_list_special_use_and_children(raw):
    raw.login()
    lines = raw.command(b'LIST "" "*"')
    assert lines[0] == b'* LIST (\\HasNoChildren) "/" "INBOX"'
    assert b'* LIST (\\HasNoChildren \\Sent) "/" "Sent"' in lines
    assert b'* LIST (\\HasNoChildren \\Junk) "/" "Junk"' in lines
    assert lines[-1] == b"t2 OK LIST completed"
    assert raw.command(b'LIST "" ""')[0] == b'* LIST (\\Noselect) "/" ""'
    special = raw.command(b'LIST (SPECIAL-USE) "" "*"')
    assert len(special) == 6 and all(b"\\HasNoChildren \\" in line for line in special[:-1])
    assert raw.command(b'LIST "" "%"')[-1] == b"t5 OK LIST completed"


def test_create_rename_delete_with_children(raw):
    raw.login()
    assert raw.command(b"CREATE Projects/2024/")[-1] == b"t2 OK CREATE completed"
    lines = raw.command(b'LIST "" "Projects*"')
    assert lines[:2] == [b'* LIST (\\HasChildren) "/" "Projects"',
                         b'* LIST (\\HasNoChildren) "/" "Projects/2024"']
    assert raw.command(b"CREATE Projects")[-1].startswith(b"t4 NO [ALREADYEXISTS]")
    assert raw.command(b"RENAME Projects Work")[-1] == b"t5 OK RENAME completed"
    assert raw.command(b'LIST "" "Work/%"')[0] == b'* LIST (\\HasNoChildren) "/" "Work/2024"'
    assert raw.command(b"DELETE Work")[-1].startswith(b"t7 NO")
    assert raw.command(b"DELETE Work/2024")[-1] == b"t8 OK DELETE completed"
    assert raw.command(b"DELETE Work")[-1] == b"t9 OK DELETE completed"
    assert raw.command(b"DELETE Work")[-1].startswith(b"t10 NO [NONEXISTENT]")
    assert raw.command(b"DELETE INBOX")[-1].startswith(b"t11 NO")


def test_international_names_in_modified_utf7(raw):
    raw.login()
    assert raw.command(b"CREATE &ZeVnLIqe-")[-1] == b"t2 OK CREATE completed"
    assert raw.command(b'LIST "" "&ZeVnLIqe-"')[0] == b'* LIST (\\HasNoChildren) "/" "&ZeVnLIqe-"'
    assert raw.command(b"CREATE &Jjo-invalid&")[-1].startswith(b"t4 BAD")
    raw.command(b"DELETE &ZeVnLIqe-")


def test_hostile_mailbox_names(raw, imap_server):
    raw.login()
    for number, name in enumerate((b'"../etc"', b'"a/../../b"', b'"/abs"', b'"a//b"',
                                   b'".hidden"', b'"x/."'), start=2):
        reply = raw.command(b"CREATE " + name)[-1]
        assert reply.startswith(b"t%d NO" % number) or reply.startswith(b"t%d BAD" % number) \
            or reply.startswith(b"t%d OK" % number), reply
    data = imap_server.config.parent
    outside = [p for p in data.rglob("*") if ".." in p.parts]
    assert outside == []
    mail = data / "mail"
    for path in mail.rglob("*"):
        assert path.resolve().is_relative_to(mail.resolve())


def test_subscriptions_and_lsub(raw):
    raw.login()
    raw.command(b"CREATE Lists")
    assert raw.command(b"SUBSCRIBE Lists")[-1] == b"t3 OK SUBSCRIBE completed"
    assert b'* LSUB (\\HasNoChildren) "/" "Lists"' in raw.command(b'LSUB "" "*"')
    lines = raw.command(b'LIST (SUBSCRIBED) "" "L*"')
    assert lines[0] == b'* LIST (\\HasNoChildren \\Subscribed) "/" "Lists"'
    raw.command(b"UNSUBSCRIBE Lists")
    assert b'"/" "Lists"' not in b"".join(raw.command(b'LSUB "" "*"'))


def test_status_and_list_status(raw):
    raw.login()
    raw.command(b"CREATE Counted")
    append(raw, b"Counted")
    append(raw, b"Counted", flags=b"(\\Seen)")
    lines = raw.command(b"STATUS Counted (MESSAGES UNSEEN UIDNEXT SIZE)")
    assert lines[0] == b"* STATUS \"Counted\" (MESSAGES 2 UNSEEN 1 UIDNEXT 3 SIZE %d)" % \
        (2 * len(MESSAGE))
    lines = raw.command(b'LIST "" "Counted" RETURN (STATUS (MESSAGES))')
    assert lines[:2] == [b'* LIST (\\HasNoChildren) "/" "Counted"',
                         b'* STATUS "Counted" (MESSAGES 2)']
    assert raw.command(b"STATUS Nowhere (MESSAGES)")[-1].startswith(b"t7 NO [NONEXISTENT]")


def test_select_and_examine(raw):
    raw.login()
    raw.command(b"CREATE Selected")
    append(raw, b"Selected", flags=b"(\\Seen $Label1)")
    append(raw, b"Selected")
    lines = raw.command(b"SELECT Selected")
    text = b"\n".join(lines)
    assert b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label1)" in text
    assert b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label1 \\*)]" \
        in text
    assert b"* 2 EXISTS" in lines and b"* 0 RECENT" in lines
    assert b"* OK [UNSEEN 2] First unseen" in lines
    assert re.search(rb"\* OK \[UIDVALIDITY \d+\]", text)
    assert b"* OK [UIDNEXT 3] Predicted next UID" in lines
    assert lines[-1] == b"t5 OK [READ-WRITE] SELECT completed"
    assert raw.command(b"EXAMINE Selected")[-1] == b"t6 OK [READ-ONLY] EXAMINE completed"
    assert raw.command(b"STORE 1 +FLAGS (\\Flagged)")[-1].startswith(b"t7 NO [READ-ONLY]")
    assert raw.command(b"SELECT Nowhere")[-1].startswith(b"t8 NO [NONEXISTENT]")
    assert raw.command(b"FETCH 1 FLAGS")[-1] == \
        b"t9 BAD FETCH is not allowed in the authenticated state"


def test_append_variants_and_errors(raw):
    raw.login()
    raw.command(b"CREATE Appended")
    reply = append(raw, b"Appended", flags=b"(\\Seen \\Flagged)",
                   date=b'"14-Jul-2023 02:44:25 -0700"')[-1]
    assert re.fullmatch(rb"t\d+ OK \[APPENDUID \d+ 1\] APPEND completed", reply)
    raw.send(b"a1 APPEND Appended {%d+}\r\n" % len(MESSAGE) + MESSAGE + b"\r\n")
    assert re.fullmatch(rb"a1 OK \[APPENDUID \d+ 2\] APPEND completed", raw.until(b"a1")[-1])
    assert append(raw, b"Missing")[-1].endswith(b"NO [TRYCREATE] No such mailbox")
    assert append(raw, b"Appended", flags=b"(\\Recent)")[-1].split(b" ", 2)[1] in (b"BAD", b"NO")
    raw.send(b"a2 APPEND Appended {999999999}\r\n")
    assert raw.until(b"a2") == [b"a2 NO [TOOBIG] Message larger than APPENDLIMIT"]
    lines = raw.command(b"SELECT Appended")
    assert b"* 2 EXISTS" in lines
    fetched = raw.command(b"FETCH 1 (FLAGS INTERNALDATE)")[0]
    assert fetched == b'* 1 FETCH (FLAGS (\\Seen \\Flagged) INTERNALDATE "14-Jul-2023 02:44:25 -0700")'
