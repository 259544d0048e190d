"""The pure SMTP parser: command lines, paths, ESMTP parameters, BDAT arguments."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mfserver.smtp import codes
from mfserver.smtp.parser import (
    SyntaxProblem,
    parse_bdat,
    parse_command,
    parse_mail,
    parse_rcpt,
    xtext_decode,
    xtext_encode,
)


def test_commands_are_case_insensitive_and_keep_their_argument() -> None:
    assert parse_command(b"ehlo client.example") == ("EHLO", "client.example") or \
        parse_command(b"ehlo client.example").verb == "EHLO"
    cmd = parse_command(b"mail FROM:<a@b.example> SIZE=10")
    assert cmd.verb == "MAIL" and cmd.argument == "FROM:<a@b.example> SIZE=10"


@pytest.mark.parametrize("line", [b"\xff\xfe", b"MAIL\x00FROM:<a@b.c>", b"NO\x01OP"])
def test_bad_bytes_are_syntax_errors(line: bytes) -> None:
    with pytest.raises(SyntaxProblem) as error:
        parse_command(line)
    assert error.value.reply.code == 500


def test_a_verb_that_is_not_a_word_is_unrecognised() -> None:
    with pytest.raises(SyntaxProblem) as error:
        parse_command(b"12AB x")
    assert error.value.reply is codes.UNKNOWN_COMMAND


@pytest.mark.parametrize("argument, address", [
    ("FROM:<alice@example.org>", "alice@example.org"),
    ("from: <alice@example.org>", "alice@example.org"),
    ("FROM:<>", ""),
    ("FROM:<@relay.example,@other.example:bob@example.org>", "bob@example.org"),
    ('FROM:<"john doe"@example.org>', '"john doe"@example.org'),
    ('FROM:<"a>b"@example.org>', '"a>b"@example.org'),
    ("FROM:<user@[192.0.2.1]>", "user@[192.0.2.1]"),
    ("FROM:<user@[IPv6:2001:db8::1]>", "user@[IPv6:2001:db8::1]"),
    ("FROM:<jösé@bücher.example>", "jösé@bücher.example"),
])
def test_mail_paths(argument: str, address: str) -> None:
    assert parse_mail(argument).path.address == address


@pytest.mark.parametrize("argument", [
    "FROM:alice@example.org", "FROM:<alice@example.org", "TO:<a@b.example>",
    "FROM:<alice>", "FROM:<@example.org>", "FROM:<a..b@example.org>",
    "FROM:<alice@-bad-.example>", "FROM:<alice@[300.1.1.1]>", "FROM:<a@b.example>SIZE=1",
    "FROM:<" + "a" * 65 + "@example.org>", "FROM:<a@" + "b" * 64 + ".example>",
])
def test_bad_mail_paths(argument: str) -> None:
    with pytest.raises(SyntaxProblem) as error:
        parse_mail(argument)
    assert error.value.reply.code in (501, 553)


def test_postmaster_without_domain_is_a_forward_path() -> None:
    assert parse_rcpt("TO:<Postmaster>").path.address == "postmaster"
    with pytest.raises(SyntaxProblem):
        parse_mail("FROM:<postmaster>")


def test_mail_parameters_are_checked_and_normalised() -> None:
    parsed = parse_mail("FROM:<a@b.example> size=1000 body=8bitmime SMTPUTF8 RET=hdrs "
                        "ENVID=abc+2Bdef AUTH=<>")
    assert parsed.params == {"SIZE": "1000", "BODY": "8BITMIME", "SMTPUTF8": None,
                             "RET": "HDRS", "ENVID": "abc+def", "AUTH": "<>"}


@pytest.mark.parametrize("params, code", [
    ("SIZE=ten", 501), ("SIZE", 501), ("BODY=BINARYMIME", 555), ("SMTPUTF8=yes", 501),
    ("RET=ALL", 501), ("ENVID=a+zz", 501), ("FOO=bar", 555), ("SIZE=1 SIZE=2", 501),
    ("=x", 501), ("NOTIFY=NEVER", 555),
])
def test_bad_mail_parameters(params: str, code: int) -> None:
    with pytest.raises(SyntaxProblem) as error:
        parse_mail(f"FROM:<a@b.example> {params}")
    assert error.value.reply.code == code


def test_rcpt_dsn_parameters() -> None:
    parsed = parse_rcpt("TO:<bob@example.org> NOTIFY=success,failure "
                        "ORCPT=rfc822;bob+2Btag@example.org")
    assert parsed.params == {"NOTIFY": "SUCCESS,FAILURE", "ORCPT": "rfc822;bob+tag@example.org"}
    assert parse_rcpt("TO:<bob@example.org> NOTIFY=NEVER").params == {"NOTIFY": "NEVER"}


@pytest.mark.parametrize("params", ["NOTIFY=NEVER,SUCCESS", "NOTIFY=SOMETIMES", "NOTIFY=",
                                    "ORCPT=rfc822", "ORCPT=;x", "SIZE=10"])
def test_bad_rcpt_parameters(params: str) -> None:
    with pytest.raises(SyntaxProblem):
        parse_rcpt(f"TO:<bob@example.org> {params}")


def test_bdat_arguments() -> None:
    assert parse_bdat("100") == (100, False)
    assert parse_bdat("0 last") == (0, True)
    for bad in ("", "x", "10 FIRST", "10 LAST more", "-1", "9" * 13):
        with pytest.raises(ValueError):
            parse_bdat(bad)


@given(st.text())
def test_xtext_round_trips(text: str) -> None:
    assert xtext_decode(xtext_encode(text)) == text.encode("utf-8", "replace").decode(
        "utf-8", "replace")


@given(st.binary(max_size=300))
def test_no_line_makes_the_parsers_raise_anything_but_syntax_problems(line: bytes) -> None:
    try:
        cmd = parse_command(line)
    except SyntaxProblem:
        return
    for parse in (parse_mail, parse_rcpt):
        try:
            parse(cmd.argument)
        except SyntaxProblem:
            pass
