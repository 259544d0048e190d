"""trackers (inbound): tracking pixels out, click wrappers unwrapped, tracking parameters off.

Implementation notes:
- Only text/html and text/plain leaves are looked at, and only those not under a signed or
  encrypted container (PGP/MIME, S/MIME) nor holding inline PGP: those pass untouched. A part
  whose content is unchanged keeps its bytes; a changed part keeps its charset (the text is
  edited as latin-1 over the original bytes, see clean.py) and its transfer encoding
  (re-encoded the same way). Every byte outside changed parts stays as it was.
- Parts in charsets that are not ASCII-compatible (UTF-16/32, ISO-2022-*, UTF-7) are skipped.
- `X-Trackers-Removed: N (P pixels, L links)` is added when something was removed.
- The rewriting (and the settings lookup) runs in the thread pool: a newsletter of a few
  megabytes takes tens of milliseconds to clean, which must not stall the reactor. The cleaned
  body is put into the shared message back on the reactor thread.
- An account turns it off with `mfserver filter set USER trackers off`; a message for several
  accounts is cleaned only when every one of them has it on (it is one message).
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from mfserver.filters import FilterLists
from mfserver.milter.api import Direction, FailurePolicy, Milter
from mfserver.milter.config import MilterTools
from mfserver.milter.message import MilterMessage
from mfserver.milter.mime import Leaf, decode, encode, leaves, read_header, splice
from plugins.trackers.clean import Cleaner, Tally, load_domains

HEADER = "X-Trackers-Removed"
_UNSAFE_CHARSETS = ("utf-16", "utf-32", "utf-7", "iso-2022", "ucs-2", "ucs-4")
_PGP_INLINE = b"-----BEGIN PGP "


def shipped_domains() -> frozenset[str]:
    text = resources.files("plugins.trackers").joinpath("domains.txt").read_text()
    return load_domains(text.splitlines())


class Trackers(Milter):
    directions = frozenset({Direction.INBOUND})
    on_failure = FailurePolicy.SKIP  # a failure here costs privacy, never mail

    def __init__(self, cleaner: Cleaner, lists: FilterLists | None = None,
                 run_blocking: Any = None) -> None:
        self.cleaner = cleaner
        self.lists = lists
        self.run_blocking = run_blocking

    def eom(self, message: MilterMessage) -> Any:
        accounts = message.account_ids
        header, body = message.header_bytes, message.body

        def work() -> tuple[bytes, Tally] | None:
            """Blocking (settings lookup, HTML rewriting of possibly megabytes): a pool thread."""
            if self.lists is not None and accounts and not self._wanted(accounts):
                return None
            return clean_body(self.cleaner, header, body)

        if self.run_blocking is None:
            self._apply(message, work())
            return None
        return self.run_blocking(work).addCallback(lambda done: self._apply(message, done))

    def _wanted(self, accounts: list[int]) -> bool:
        assert self.lists is not None
        return all(self.lists.settings(account)["trackers"] == "on" for account in accounts)

    @staticmethod
    def _apply(message: MilterMessage, done: tuple[bytes, Tally] | None) -> None:
        """On the reactor thread: the cleaned body and the header saying what went."""
        if done is None:
            return
        body, tally = done
        if tally.total:
            message.replace_body(body)
            message.delete_header(HEADER)
            message.add_header(HEADER, f"{tally.total} ({tally.pixels} pixels, "
                                       f"{tally.links} links)")


def clean_body(cleaner: Cleaner, header: bytes, body: bytes) -> tuple[bytes, Tally]:
    """The body with trackers removed from its text parts, and what was removed."""
    tally = Tally()
    changes: list[tuple[Leaf, bytes]] = []
    for leaf in leaves(read_header(header), body):
        if leaf.protected or leaf.content_type not in ("text/html", "text/plain"):
            continue
        charset = (leaf.charset or "us-ascii").lower()
        if charset.startswith(_UNSAFE_CHARSETS):
            continue
        content = decode(leaf, body)
        if content is None or _PGP_INLINE in content:
            continue
        text = content.decode("latin-1")
        before = tally.total
        if leaf.content_type == "text/html":
            cleaned = cleaner.clean_html(text, tally)
        else:
            cleaned = cleaner.clean_text(text, tally)
        if tally.total != before:
            changes.append((leaf, encode(leaf, cleaned.encode("latin-1"))))
    return (splice(body, changes) if changes else body), tally


def make_milter(tools: MilterTools) -> Trackers:
    domains = shipped_domains() | load_domains(tools.settings.trackers.extra_domains)
    lists = FilterLists(tools.runtime.database) if tools.runtime is not None else None
    return Trackers(Cleaner(domains), lists, tools.run_blocking)
