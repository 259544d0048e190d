"""SEARCH programs as `parse_command` reads them into SearchKey trees (RFC 3501 6.4.4)."""

from __future__ import annotations

from datetime import date

import pytest

from mfserver.imap.commands import BadCharset, ParseError, SearchArgs
from mfserver.imap.parser import parse_command
from mfserver.imap.syntax import SearchKey, SequenceSet


def search(text: str | bytes) -> SearchArgs:
    wire = text.encode("utf-8") if isinstance(text, str) else text
    return parse_command(b"s SEARCH " + wire).args


def key(text: str | bytes) -> SearchKey:
    return search(text).criteria


def refused(text: str | bytes) -> str:
    wire = text.encode("utf-8") if isinstance(text, str) else text
    with pytest.raises(ParseError) as caught:
        parse_command(b"s UID SEARCH " + wire)
    assert caught.value.tag == "s" and type(caught.value) is ParseError
    return caught.value.message


def k(name, value=None, *children) -> SearchKey:
    return SearchKey(name, value, tuple(children))


@pytest.mark.parametrize("name", ["ALL", "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "NEW",
                                  "OLD", "RECENT", "SEEN", "UNANSWERED", "UNDELETED", "UNDRAFT",
                                  "UNFLAGGED", "UNSEEN"])
def test_keys_without_argument(name):
    assert key(name) == k(name)
    assert key(name.lower()) == k(name)


@pytest.mark.parametrize("name", ["BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO"])
def test_string_keys(name):
    assert key(f"{name} alice") == k(name, "alice")
    assert key(f'{name} "two words"') == k(name, "two words")
    assert key(f"{name} a]b") == k(name, "a]b")
    assert key(b"%s {5}\r\n\xc3\xa9t\xc3\xa9" % name.encode()) == k(name, "été")


@pytest.mark.parametrize("name", ["BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"])
def test_date_keys(name):
    assert key(f"{name} 1-Feb-1994") == k(name, date(1994, 2, 1))
    assert key(f'{name} "01-feb-1994"') == k(name, date(1994, 2, 1))
    assert key(f"{name} 29-FEB-2024") == k(name, date(2024, 2, 29))


def test_other_keys():
    assert key("HEADER Message-ID <a@b>") == k("HEADER", ("Message-ID", "<a@b>"))
    assert key('HEADER "X-Spam-Flag" ""') == k("HEADER", ("X-Spam-Flag", ""))
    assert key("KEYWORD $Forwarded") == k("KEYWORD", "$Forwarded")
    assert key("UNKEYWORD $Junk") == k("UNKEYWORD", "$Junk")
    assert key("LARGER 1024") == k("LARGER", 1024)
    assert key("SMALLER 9223372036854775807") == k("SMALLER", 2**63 - 1)  # RFC 9051 number64
    assert key("UID 1:*") == k("UID", SequenceSet(((1, None),)))
    assert key("UID $") == k("UID", SequenceSet(saved=True))
    assert key("1:5,7") == k("SEQSET", SequenceSet(((1, 5), (7, 7))))
    assert key("*") == k("SEQSET", SequenceSet(((None, None),)))
    assert key("$") == k("SEQSET", SequenceSet(saved=True))
    assert key("YOUNGER 3600") == k("YOUNGER", 3600)  # RFC 5032
    assert key("OLDER 1") == k("OLDER", 1)


def test_modseq():  # RFC 7162 3.1.5
    assert key("MODSEQ 0") == k("MODSEQ", 0)
    assert key("MODSEQ 720162338") == k("MODSEQ", 720162338)
    assert key('MODSEQ "/flags/\\\\draft" all 620162338') == k("MODSEQ", 620162338)
    assert key('MODSEQ "/FLAGS/$Forwarded" PRIV 1') == k("MODSEQ", 1)
    assert key('MODSEQ "/flags/\\\\Seen" shared 1') == k("MODSEQ", 1)
    assert search("OR MODSEQ 5 UNSEEN").mentions("MODSEQ")
    assert not search("UNSEEN").mentions("MODSEQ")


def test_program_structure():
    args = search('FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"')
    assert args == SearchArgs(k("AND", None, k("FLAGGED"), k("SINCE", date(1994, 2, 1)),
                                k("NOT", None, k("FROM", "Smith"))))
    assert key("OR OR SEEN FLAGGED (DRAFT DELETED)") == k(
        "OR", None, k("OR", None, k("SEEN"), k("FLAGGED")),
        k("AND", None, k("DRAFT"), k("DELETED")))
    assert key("(((SEEN)))") == k("SEEN")
    assert key("NOT (1:3 UID 5)") == k("NOT", None, k("AND", None, k(
        "SEQSET", SequenceSet(((1, 3),))), k("UID", SequenceSet(((5, 5),)))))
    assert key("(SEEN) (UNSEEN)") == k("AND", None, k("SEEN"), k("UNSEEN"))


def test_return_and_charset():
    assert search("RETURN (MIN MAX COUNT) ALL").return_options == {"MIN", "MAX", "COUNT"}
    assert search("return (save) ALL").return_options == {"SAVE"}
    assert search("RETURN () ALL").return_options == {"ALL"}  # RFC 4731 3.1
    assert search("ALL").return_options is None
    both = search("RETURN (ALL) CHARSET utf-8 TEXT x")
    assert (both.return_options, both.charset, both.criteria) == ({"ALL"}, "UTF-8", k("TEXT", "x"))
    assert search('CHARSET "US-ASCII" ALL').charset == "US-ASCII"
    # US-ASCII named, UTF-8 sent: taken as UTF-8
    assert key(b"CHARSET US-ASCII SUBJECT {2}\r\n\xc3\xa9") == k("SUBJECT", "é")
    assert key('SUBJECT "café"') == k("SUBJECT", "café")  # UTF-8 in a quoted string


def test_bad_charset():
    with pytest.raises(BadCharset) as caught:
        parse_command(b"s SEARCH CHARSET ISO-8859-1 TEXT x")
    assert caught.value.code == "BADCHARSET (UTF-8 US-ASCII)"
    assert caught.value.message == "unsupported charset ISO-8859-1"


@pytest.mark.parametrize(("text", "message"), [
    ("", "missing argument"),
    ("FOO", "unknown SEARCH key FOO"),
    ("ALL FOO", "unknown SEARCH key FOO"),
    ("SUBJECT", "missing argument"),
    ("SUBJECT (x)", "expected a string"),
    ("BEFORE 1994-02-01", "invalid date"),
    ("BEFORE 30-Feb-1994", "invalid date"),
    ("BEFORE 1-Foo-1994", "invalid date"),
    ('BEFORE "1-Feb-1994 10:00"', "invalid date"),
    ("BEFORE (1-Feb-1994)", "invalid date"),
    ("KEYWORD \\Seen", "invalid flag"),
    ("LARGER -1", "expected a number"),
    ("LARGER 9223372036854775808", "number too large"),
    ("YOUNGER 0", "expected a non-zero number"),
    ("UID x", "invalid sequence set"),
    ("0", "invalid sequence set"),
    ("HEADER Subject", "missing argument"),
    ("NOT", "missing argument"),
    ("OR SEEN", "missing argument"),
    ("(SEEN", "unbalanced parenthesis"),
    ("SEEN)", "unbalanced parenthesis"),
    ("()", "expected a search key"),
    ("(SEEN )", "expected a search key"),
    ("SEEN  UNSEEN", "expected a search key"),
    ('"SEEN"', "expected a search key"),
    ("RETURN (FOO) ALL", "unknown SEARCH return option FOO"),
    ('RETURN ("MIN") ALL', "expected a SEARCH return option"),
    ("RETURN (MIN)", "missing argument"),
    ("RETURN MIN ALL", "expected '('"),
    ("CHARSET UTF-8", "missing argument"),
    ('MODSEQ "/flags/x"', "missing argument"),
    ('MODSEQ "/flags/x" all', "missing argument"),
    ('MODSEQ "/flags/x" both 5', "invalid MODSEQ entry type"),
    ('MODSEQ "/flags/x" "all" 5', "invalid MODSEQ entry type"),
    ('MODSEQ "/other/x" all 5', "invalid MODSEQ entry name"),
    ('MODSEQ "/flags/" all 5', "invalid MODSEQ entry name"),
    ('MODSEQ "/flags/a b" all 5', "invalid MODSEQ entry name"),
    ("MODSEQ x", "expected a number"),
])
def test_errors(text, message):
    assert refused(text) == message
