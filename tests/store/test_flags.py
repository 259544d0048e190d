"""Flag bits, IMAP names, keywords and maildir info letters."""

from __future__ import annotations

import pytest

from mfserver.store import flags


def test_imap_names_round_trip():
    bits, keywords = flags.from_imap_names(["\\seen", "\\FLAGGED", "$Work", "$work", "Later"])
    assert bits == flags.SEEN | flags.FLAGGED
    assert keywords == ("$Work", "Later")
    assert flags.imap_names(bits, keywords) == ["\\Seen", "\\Flagged", "$Work", "Later"]


@pytest.mark.parametrize("name", ["\\Recent", "\\Bogus", "two words", "", "a(b", "x]", "é",
                                  "a\x00", "k" * 101])
def test_bad_flag_names(name):
    with pytest.raises(flags.InvalidFlag):
        flags.from_imap_names([name])


def test_maildir_info_letters():
    every = flags.ALL
    assert flags.to_maildir_info(every) == "DFRST"
    assert flags.to_maildir_info(flags.SEEN | flags.ANSWERED) == "RS"
    assert flags.from_maildir_info("DFRST") == every
    assert flags.from_maildir_info("Sab") == flags.SEEN  # keyword slots ignored
    assert flags.to_maildir_info(0) == ""


def test_keyword_sets():
    assert flags.merge_keywords(("A",), ["a", "B"]) == ("A", "B")
    assert flags.remove_keywords(("A", "B"), ["b"]) == ("A",)
    assert flags.parse_keywords(flags.format_keywords(("A", "B"))) == ("A", "B")
    assert flags.parse_keywords("") == ()
