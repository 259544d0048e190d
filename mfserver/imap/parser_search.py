"""The SEARCH program: RETURN options, CHARSET and search keys, read into a `SearchKey` tree.

Implementation notes:
- RFC 3501 6.4.4 and 9 (search-key), ESEARCH RFC 4731 (RETURN (MIN MAX ALL COUNT)),
  SEARCHRES RFC 5182 (RETURN (SAVE), "$" as a sequence set), CONDSTORE RFC 7162 3.1.5
  (MODSEQ), WITHIN RFC 5032 (OLDER, YOUNGER). Key names and values are those of
  `store.query.SearchKey`: strings are str, dates `datetime.date`, sizes and MODSEQ int,
  UID and message-number sets `SequenceSet` (the latter under the name "SEQSET"),
  HEADER a (field, text) pair, and AND / OR / NOT carry `children`.
- CHARSET: US-ASCII and UTF-8 are searched (RFC 3501 requires US-ASCII; UTF-8 is what
  clients send). Anything else raises `BadCharset`, answered NO [BADCHARSET (...)]. Every
  string is decoded as UTF-8 whatever the charset: US-ASCII is a subset, and a client that
  names US-ASCII but sends UTF-8 means UTF-8.
- MODSEQ's optional entry-name and entry-type are checked, then dropped: the store keeps
  one mod-sequence per message, which RFC 7162 3.1.5 lets a server use for every entry.
- Nesting: every parenthesis, NOT and OR operand is one level (`MAX_DEPTH`), because the
  tree is walked recursively later, and "NOT NOT NOT ..." nests as deep as "(((...)))".
- "RETURN ()" means "RETURN (ALL)" (RFC 4731 3.1) and is given as {"ALL"}.
"""

from __future__ import annotations

import re

from mfserver.imap.commands import BadCharset, SearchArgs
from mfserver.imap.parser_tokens import Reader, shown
from mfserver.imap.syntax import SearchKey, all_of

_FLAG_KEYS = frozenset({  # no argument
    "ALL", "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "NEW", "OLD", "RECENT", "SEEN",
    "UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNSEEN"})
_STRING_KEYS = frozenset({"BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO"})
_DATE_KEYS = frozenset({"BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"})
_KEYWORD_KEYS = frozenset({"KEYWORD", "UNKEYWORD"})
_SIZE_KEYS = frozenset({"LARGER", "SMALLER"})
_INTERVAL_KEYS = frozenset({"OLDER", "YOUNGER"})  # RFC 5032
_OTHER_KEYS = frozenset({"HEADER", "MODSEQ", "NOT", "OR", "UID"})
_ARGUMENT_KEYS = (_STRING_KEYS | _DATE_KEYS | _KEYWORD_KEYS | _SIZE_KEYS | _INTERVAL_KEYS
                  | _OTHER_KEYS)

RETURN_OPTIONS = frozenset({"MIN", "MAX", "ALL", "COUNT", "SAVE"})
CHARSETS = frozenset(BadCharset.SUPPORTED)

# RFC 7162 3.1.5: entry-flag-name = DQUOTE "/flags/" attr-flag DQUOTE (after unescaping);
# attr-flag is a flag: "\\" atom or atom
_ATTR_FLAG = re.compile(r'\\?[^\x00-\x20\x7f-\U0010ffff(){%*"\\\]]+')
_ENTRY_TYPES = frozenset({"PRIV", "SHARED", "ALL"})
_SEQUENCE_START = frozenset(b"0123456789*$")


def search_program(reader: Reader) -> SearchArgs:
    """search = "SEARCH" [search-return-opts] SP search-program (after "SEARCH SP")."""
    return_options: frozenset[str] | None = None
    if reader.word_ahead(b"RETURN"):  # RFC 4731 3.1, RFC 4466 2.6
        reader.sp()
        options = set()
        for _ in reader.each(empty=True):
            option = reader.keyword("expected a SEARCH return option")
            if option not in RETURN_OPTIONS:
                raise reader.error(f"unknown SEARCH return option {shown(option)}")
            options.add(option)
        return_options = frozenset(options or {"ALL"})
        reader.sp()
    charset = None
    if reader.word_ahead(b"CHARSET"):
        reader.sp()
        name = reader.astring()
        charset = name.upper()
        if charset not in CHARSETS:
            raise BadCharset(reader.tag, f"unsupported charset {shown(name)}")
        reader.sp()
    keys = [search_key(reader)]
    while reader.more():
        reader.sp()
        keys.append(search_key(reader))
    return SearchArgs(all_of(keys), return_options, charset)


def search_key(reader: Reader) -> SearchKey:
    """One RFC 3501 9 search-key (with its extensions), recursively."""
    reader.count()
    byte = reader.peek()
    if byte == ord("("):
        reader.enter()
        reader.open()
        keys = [search_key(reader)]
        while reader.more():
            reader.sp()
            keys.append(search_key(reader))
        reader.close()
        reader.leave()
        return all_of(keys)
    if byte in _SEQUENCE_START:
        return SearchKey("SEQSET", reader.sequence_set())
    name = reader.keyword("expected a search key")
    if name in _FLAG_KEYS:
        return SearchKey(name)
    if name not in _ARGUMENT_KEYS:
        raise reader.error(f"unknown SEARCH key {shown(name)}")
    reader.sp()
    if name in _STRING_KEYS:
        return SearchKey(name, reader.astring())
    if name in _DATE_KEYS:
        return SearchKey(name, reader.date())
    if name in _KEYWORD_KEYS:  # flag-keyword = atom
        return SearchKey(name, reader.atom("invalid flag"))
    if name in _SIZE_KEYS:  # RFC 9051 widens these to number64
        return SearchKey(name, reader.number64())
    if name in _INTERVAL_KEYS:
        return SearchKey(name, reader.number(nonzero=True))
    if name == "UID":
        return SearchKey(name, reader.sequence_set())
    if name == "HEADER":
        field = reader.astring()
        reader.sp()
        return SearchKey(name, (field, reader.astring()))
    if name == "MODSEQ":
        return SearchKey(name, _modseq(reader))
    reader.enter()
    first = search_key(reader)
    if name == "NOT":
        reader.leave()
        return SearchKey(name, children=(first,))
    reader.sp()
    second = search_key(reader)
    reader.leave()
    return SearchKey(name, children=(first, second))


def _modseq(reader: Reader) -> int:
    """RFC 7162 3.1.5: [entry-name SP entry-type-req SP] mod-sequence-valzer."""
    if reader.peek() == ord('"'):
        entry = reader.text(reader.quoted())
        if entry[:7].lower() != "/flags/" or not _ATTR_FLAG.fullmatch(entry, 7):
            raise reader.error("invalid MODSEQ entry name")
        reader.sp()
        if reader.keyword("invalid MODSEQ entry type") not in _ENTRY_TYPES:
            raise reader.error("invalid MODSEQ entry type")
        reader.sp()
    return reader.number64()
