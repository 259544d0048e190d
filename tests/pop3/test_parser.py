"""POP3 command lines and numbers (pop3.parser)."""

from __future__ import annotations

import pytest

from mfserver.pop3.parser import Command, CommandError, number, parse_command


@pytest.mark.parametrize("line, expected", [
    (b"STAT", Command("STAT")),
    (b"stat", Command("STAT")),
    (b"LIST 1", Command("LIST", ("1",))),
    (b"TOP 1 10", Command("TOP", ("1", "10"))),
    (b"TOP  1   10 ", Command("TOP", ("1", "10"))),
    (b"USER alice@example.org", Command("USER", ("alice@example.org",))),
    (b"USER j\xc3\xb6rg@example.org", Command("USER", ("j\u00f6rg@example.org",))),
    (b"PASS a pass with  spaces ", Command("PASS", ("a pass with  spaces ",))),
    (b"PASS", Command("PASS")),
    (b"AUTH PLAIN =", Command("AUTH", ("PLAIN", "="))),
    (b"UIDL\t", Command("UIDL")),
])
def test_commands(line, expected):
    assert parse_command(line) == expected


@pytest.mark.parametrize("line, message", [
    (b"", "Empty command"),
    (b"   ", "Empty command"),
    (b"RE", "Unknown command"),
    (b"RETRIEVE 1", "Unknown command"),
    (b"R3TR 1", "Unknown command"),
    (b"\xff\xfe", "Command is not valid UTF-8"),
    (b"USER a\x00b", "Control characters are not allowed in a command"),
    (b"PASS a\rb", "Control characters are not allowed in a command"),
])
def test_refused_lines(line, message):
    with pytest.raises(CommandError) as caught:
        parse_command(line)
    assert str(caught.value) == message


@pytest.mark.parametrize("text, value", [
    ("1", 1), ("0", 0), ("007", 7), ("4294967295", 4294967295),
    ("", None), ("-1", None), ("+1", None), ("1.0", None), ("0x1", None), ("12345678901", None),
    ("\u0661", None),  # an Arabic-Indic digit: str.isdigit() says yes, POP3 says no
])
def test_numbers(text, value):
    assert number(text) == value
