"""Search criteria the store answers: a tree of keys named after IMAP SEARCH (RFC 3501 6.4.4).

Implementation notes:
- The store knows nothing of IMAP sessions: message sequence numbers never reach it. The IMAP
  layer turns a SEQSET key into a UID key before it asks (it alone knows its numbering).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SearchKey:
    """One SEARCH criterion (RFC 3501 6.4.4, RFC 7162 MODSEQ, RFC 9051 as far as it goes).

    `name` is the uppercase key ("ALL", "ANSWERED", "BCC", "BEFORE", "BODY", "HEADER", "LARGER",
    "MODSEQ", "NOT", "OR", "AND", "SEQSET", "UID", "KEYWORD", ...). `value` carries the key's
    argument: a str for strings and flags, an int for sizes and MODSEQ, a `date` for dates, a
    `SequenceSet` for UID (and SEQSET, which the store never sees), a (field, text) pair for HEADER. "AND" (a parenthesised
    list or the implicit list at top level), "OR" (two) and "NOT" (one) use `children`.
    """

    name: str
    value: Any = None
    children: tuple[SearchKey, ...] = field(default_factory=tuple)


