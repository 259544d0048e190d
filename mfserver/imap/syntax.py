"""The IMAP values the parser produces and the server consumes: sequence sets, FETCH items, SEARCH keys.

Implementation notes:
- Pure data, no I/O and no reactor: the parser (`imap.parser`) builds these from the wire, the
  FETCH engine (`imap.fetch`) and the store's search (`store.query`) consume them, so each
  side can be tested on its own. A SEARCH program is a store `SearchKey` tree: the store
  answers it from the index; the IMAP layer only turns message sequence numbers into UIDs.
- Names are uppercase IMAP words ("BODY.PEEK" is a FETCH item named "BODY" with peek=True).
- A sequence set keeps "*" as `None` until it is resolved against a mailbox (RFC 3501 9,
  seq-number); "$" (RFC 5182 SEARCHRES) is kept as `saved=True`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from mfserver.store.query import SearchKey


@dataclass(frozen=True)
class SequenceSet:
    """A set of message numbers or UIDs: ranges whose ends may be "*" (None)."""

    ranges: tuple[tuple[int | None, int | None], ...] = ()
    saved: bool = False  # "$": the result of the last SEARCH ... SAVE (RFC 5182)

    def resolve(self, largest: int) -> list[tuple[int, int]]:
        """Ranges as (low, high) with "*" replaced by `largest`, ordered, low <= high.

        RFC 3501 6.4.8: "*" in a UID set means the largest UID in use, and a range a:b is
        the same as b:a. The result may name numbers that do not exist; callers intersect.
        """
        result = []
        for low, high in self.ranges:
            a = largest if low is None else low
            b = largest if high is None else high
            result.append((min(a, b), max(a, b)))
        return sorted(result)

    def contains(self, number: int, largest: int) -> bool:
        return any(low <= number <= high for low, high in self.resolve(largest))

    def select(self, numbers: Sequence[int], largest: int | None = None) -> Iterator[int]:
        """The members of the sorted `numbers` that the set names."""
        if not numbers:
            return iter(())
        spans = self.resolve(numbers[-1] if largest is None else largest)
        return (n for n in numbers if any(low <= n <= high for low, high in spans))

    def __str__(self) -> str:
        if self.saved:
            return "$"

        def one(value: int | None) -> str:
            return "*" if value is None else str(value)

        return ",".join(one(low) if low == high else f"{one(low)}:{one(high)}"
                        for low, high in self.ranges)


@dataclass(frozen=True)
class Section:
    """A BODY[...] section spec (RFC 3501 6.4.5): a part path and an optional text specifier.

    `text` is one of None, "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME";
    `fields` holds the header field names (uppercased) for the two HEADER.FIELDS forms.
    """

    part: tuple[int, ...] = ()
    text: str | None = None
    fields: tuple[str, ...] = ()

    def __str__(self) -> str:
        pieces = [".".join(map(str, self.part))] if self.part else []
        if self.text:
            text = self.text
            if self.fields:
                text += " (" + " ".join(self.fields) + ")"
            pieces.append(text)
        return ".".join(pieces)


@dataclass(frozen=True)
class FetchAttribute:
    """One FETCH data item: FLAGS, UID, ENVELOPE, BODY[1.2]<0.100>, BINARY[1], ...

    `name` is the item without PEEK: "BODY" with `section` set is BODY[...]; BODY without a
    section is the non-extensible BODYSTRUCTURE form. `partial` is (offset, count).
    """

    name: str
    section: Section | None = None
    partial: tuple[int, int] | None = None
    peek: bool = False

    @property
    def sets_seen(self) -> bool:
        """Whether fetching this item sets \\Seen (RFC 3501 6.4.5)."""
        if self.peek:
            return False
        if self.name in ("RFC822", "RFC822.TEXT"):
            return True
        return self.name in ("BODY", "BINARY") and self.section is not None


def all_of(keys: Sequence[SearchKey]) -> SearchKey:
    """The conjunction of `keys` (the implicit AND of a SEARCH program)."""
    return keys[0] if len(keys) == 1 else SearchKey("AND", children=tuple(keys))


__all__ = ["FetchAttribute", "SearchKey", "Section", "SequenceSet", "all_of"]
