"""Pure parts of imap.messages: the quick writer of FETCH UID/FLAGS/MODSEQ lines."""

from __future__ import annotations

import itertools

from mfserver.imap import fetch
from mfserver.imap.messages import _fetch_line, _flags_line_writer
from mfserver.imap.selected import flag_names
from mfserver.imap.syntax import FetchAttribute, Section
from mfserver.store import MessageInfo, flags

INFOS = [MessageInfo(uid, bits, words, 7 + uid, 100, 1700000000, 60, None)
         for uid, (bits, words) in enumerate(itertools.product(
             (0, flags.SEEN, flags.SEEN | flags.FLAGGED | flags.DRAFT, flags.ALL),
             ((), ("$Work",), ("$Junk", "NonJunk"))), start=1)]


def test_quick_lines_are_the_generic_ones():
    for names in (["UID", "FLAGS"], ["FLAGS"], ["UID", "FLAGS", "MODSEQ"], ["MODSEQ", "UID"],
                  ["FLAGS", "UID", "FLAGS"]):
        attributes = [FetchAttribute(name) for name in names]
        write = _flags_line_writer(attributes)
        assert write is not None
        for number, info in enumerate(INFOS, start=1):
            for recent in (False, True):
                shown = flag_names(info.flags, info.keywords, recent=True) if recent else None
                expected = _fetch_line(number, fetch.render(attributes, info, None, None,
                                                            flags_override=shown))
                assert write(number, info, recent) == expected


def test_other_items_take_the_generic_path():
    assert _flags_line_writer([FetchAttribute("UID"), FetchAttribute("RFC822.SIZE")]) is None
    assert _flags_line_writer([FetchAttribute("BODY", Section(text="HEADER"))]) is None
