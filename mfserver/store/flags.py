"""Message flags: the bitmask kept in the index, IMAP flag names, and maildir info letters.

Implementation notes:
- The five IMAP system flags that can be stored (RFC 3501 2.3.2) are bits of `messages.flags`;
  `\\Recent` is not a stored flag (IMAP4rev2, RFC 9051, dropped it) and is refused here.
- Keywords are kept apart, as a tuple of atoms, stored space-separated. They compare
  case-insensitively (RFC 3501 2.3.2 flag names are case-insensitive), keeping the spelling
  first given.
- Maildir info letters (cr.yp.to/proto/maildir.html) are written in ASCII order:
  D (draft), F (flagged), R (replied = \\Answered), S (seen), T (trashed = \\Deleted).
  Lowercase letters (Dovecot's keyword slots) and unknown letters are ignored when read.
"""

from __future__ import annotations

from collections.abc import Iterable

from mfserver.store.errors import StoreError

SEEN = 1
ANSWERED = 2
FLAGGED = 4
DELETED = 8
DRAFT = 16
ALL = SEEN | ANSWERED | FLAGGED | DELETED | DRAFT

_IMAP_NAMES = ((SEEN, "\\Seen"), (ANSWERED, "\\Answered"), (FLAGGED, "\\Flagged"),
               (DELETED, "\\Deleted"), (DRAFT, "\\Draft"))
_BY_IMAP_NAME = {name.lower(): bit for bit, name in _IMAP_NAMES}

# maildir letter -> bit, in the ASCII order the spec asks for when writing
_MAILDIR_LETTERS = (("D", DRAFT), ("F", FLAGGED), ("R", ANSWERED), ("S", SEEN), ("T", DELETED))
_BY_LETTER = dict(_MAILDIR_LETTERS)

# RFC 3501 atom-specials plus the characters a flag keyword may not hold
_NOT_IN_KEYWORD = set('(){ %*"\\]') | {chr(c) for c in range(0x20)} | {"\x7f"}
MAX_KEYWORD_LENGTH = 100


class InvalidFlag(StoreError, ValueError):
    """A flag name that cannot be stored: \\Recent, an unknown system flag, or a bad atom."""


def imap_names(bits: int, keywords: Iterable[str] = ()) -> list[str]:
    """The IMAP flag list for `bits` and `keywords`, system flags first."""
    return [name for bit, name in _IMAP_NAMES if bits & bit] + list(keywords)


def check_keyword(keyword: str) -> str:
    """`keyword` if it is a valid flag keyword (an IMAP atom, not starting with a backslash)."""
    if not keyword or len(keyword) > MAX_KEYWORD_LENGTH or keyword.startswith("\\"):
        raise InvalidFlag(f"not a valid keyword: {keyword!r}")
    if any(ch in _NOT_IN_KEYWORD or ord(ch) > 0x7e for ch in keyword):
        raise InvalidFlag(f"not a valid keyword: {keyword!r}")
    return keyword


def from_imap_names(names: Iterable[str]) -> tuple[int, tuple[str, ...]]:
    """(bits, keywords) for IMAP flag names; system flags are matched case-insensitively."""
    bits = 0
    keywords: list[str] = []
    for name in names:
        if name.startswith("\\"):
            bit = _BY_IMAP_NAME.get(name.lower())
            if bit is None:
                raise InvalidFlag(f"flag cannot be stored: {name}")
            bits |= bit
        else:
            keywords.append(check_keyword(name))
    return bits, merge_keywords((), keywords)


def merge_keywords(current: Iterable[str], added: Iterable[str]) -> tuple[str, ...]:
    """`current` plus those of `added` not already present (case-insensitively)."""
    result = list(current)
    seen = {keyword.lower() for keyword in result}
    for keyword in added:
        if keyword.lower() not in seen:
            seen.add(keyword.lower())
            result.append(keyword)
    return tuple(result)


def remove_keywords(current: Iterable[str], removed: Iterable[str]) -> tuple[str, ...]:
    """`current` without `removed` (case-insensitively)."""
    gone = {keyword.lower() for keyword in removed}
    return tuple(keyword for keyword in current if keyword.lower() not in gone)


def parse_keywords(stored: str) -> tuple[str, ...]:
    """Keywords as stored in `messages.keywords` (space-separated)."""
    return tuple(stored.split())


def format_keywords(keywords: Iterable[str]) -> str:
    return " ".join(keywords)


def to_maildir_info(bits: int) -> str:
    """The letters after ':2,' in a maildir file name, e.g. 'FS' for \\Flagged \\Seen."""
    return "".join(letter for letter, bit in _MAILDIR_LETTERS if bits & bit)


def from_maildir_info(info: str) -> int:
    """The bits of the letters after ':2,'; unknown and lowercase letters are ignored."""
    bits = 0
    for letter in info:
        bits |= _BY_LETTER.get(letter, 0)
    return bits
