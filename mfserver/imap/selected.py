"""The selected mailbox as one session sees it: message numbers, and when changes are told.

Implementation notes:
- The view is the sorted list of UIDs the client knows; message sequence number n is
  `uids[n - 1]` (RFC 3501 2.3.1.2). It changes only when the session tells the client: new
  messages by `* n EXISTS`, removals by `* n EXPUNGE` (or `* VANISHED` once QRESYNC is on).
- Changes are found by asking the index for everything above the MODSEQ the view has seen
  (`Store.messages(changed_since=)` and `Store.vanished()`); the change bus only says when to
  ask. So deliveries by another process or node are found too, and nothing is missed or told
  twice whatever order the bus and the database answer in.
- RFC 3501 7.4.1: EXPUNGE must not be sent while answering FETCH, STORE or SEARCH (their
  non-UID forms), so removals found then are held back and their UIDs stay in the view until
  the next command that allows them, which tells them even if nothing else changed; message
  numbers never shift under the client mid-command. Removals are told before the FETCH lines
  of the same update, whose numbers count without them.
- The session's own flag changes were answered already; they are not echoed again, except
  after a STORE .SILENT on a message whose flags another session had changed untold
  (RFC 3501 6.4.6: the client must learn of that change).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from mfserver.imap.syntax import SequenceSet
from mfserver.store import FolderInfo, MessageInfo
from mfserver.store.flags import imap_names


@dataclass
class Changes:
    """What the index says changed in a folder since a MODSEQ."""

    changed: list[MessageInfo]
    vanished: list[int]
    highestmodseq: int


class InvalidSequence(Exception):
    """A message number beyond the mailbox (RFC 3501 answers BAD)."""


@dataclass
class SelectedMailbox:
    folder: FolderInfo
    readonly: bool
    uids: list[int]
    highestmodseq: int
    uidnext: int
    condstore: bool = False
    qresync: bool = False
    recent: set[int] = field(default_factory=set)
    _pending_vanished: set[int] = field(default_factory=set)
    _echoed: dict[int, int] = field(default_factory=dict)

    # -- numbering --------------------------------------------------------------------------

    @property
    def exists(self) -> int:
        return len(self.uids)

    def msn(self, uid: int) -> int | None:
        index = bisect.bisect_left(self.uids, uid)
        if index < len(self.uids) and self.uids[index] == uid:
            return index + 1
        return None

    def resolve(self, numbers: SequenceSet, *, uid: bool) -> list[int]:
        """The UIDs a sequence set names, ascending.

        UID sets name what exists and ignore the rest (RFC 3501 6.4.8); "*" is the largest
        UID, or UIDNEXT-1 when the mailbox is empty. Message-number sets must stay within
        1..EXISTS, else InvalidSequence.
        """
        if uid:
            largest = self.uids[-1] if self.uids else max(self.uidnext - 1, 0)
            spans = numbers.resolve(largest)
            result: list[int] = []
            for low, high in spans:
                start = bisect.bisect_left(self.uids, low)
                end = bisect.bisect_right(self.uids, high)
                result.extend(self.uids[start:end])
            return sorted(set(result))
        if not self.uids:
            raise InvalidSequence("the mailbox is empty")
        chosen: set[int] = set()
        for low, high in numbers.resolve(len(self.uids)):
            if low < 1 or high > len(self.uids):
                raise InvalidSequence("message number out of range")
            chosen.update(self.uids[low - 1:high])
        return sorted(chosen)

    @property
    def expunges_held(self) -> bool:
        """Removals found during FETCH, STORE or SEARCH that wait for a command that allows
        EXPUNGE responses (RFC 3501 7.4.1)."""
        return bool(self._pending_vanished)

    # -- changes ----------------------------------------------------------------------------

    def own_flags(self, uid: int, modseq: int) -> None:
        """This session changed a message's flags and has told the client already."""
        self._echoed[uid] = modseq

    def removed(self, uids: Iterable[int]) -> list[bytes]:
        """This session expunged `uids`: the untagged lines that tell it, view updated."""
        return self._expunge_lines(set(uids))

    def apply(self, changes: Changes, *, allow_expunge: bool) -> list[bytes]:
        """Bring the view up to date and return the untagged lines that tell the client."""
        vanished = (set(changes.vanished) | self._pending_vanished)
        largest = self.uids[-1] if self.uids else 0
        arrived = sorted(info.uid for info in changes.changed
                         if info.uid > largest and info.uid not in vanished)
        # Removals first: each EXPUNGE renumbers the messages after it (RFC 3501 7.4.1), so
        # the FETCH lines below give the numbers the client has once it applied them.
        lines: list[bytes] = []
        if allow_expunge:
            lines = self._expunge_lines(vanished)
            self._pending_vanished.clear()
        else:
            self._pending_vanished = {uid for uid in vanished if self.msn(uid) is not None}
        for info in changes.changed:
            if info.uid in vanished or info.uid > largest:
                continue
            if self._echoed.pop(info.uid, None) == info.modseq:
                continue
            number = self.msn(info.uid)
            if number is None:
                continue
            items = [b"UID %d" % info.uid, b"FLAGS " + self._flags(info)]
            if self.condstore:
                items.append(b"MODSEQ (%d)" % info.modseq)
            lines.append(b"* %d FETCH (%s)\r\n" % (number, b" ".join(items)))
        if arrived:
            self.uids.extend(arrived)
            self.recent.update(arrived)
            self.uidnext = max(self.uidnext, arrived[-1] + 1)
            lines.append(b"* %d EXISTS\r\n" % len(self.uids))
            lines.append(b"* %d RECENT\r\n" % len(self.recent))
        self.highestmodseq = max(self.highestmodseq, changes.highestmodseq)
        return lines

    def _flags(self, info: MessageInfo) -> bytes:
        return flag_list(info.flags, info.keywords, recent=info.uid in self.recent)

    def _expunge_lines(self, uids: set[int]) -> list[bytes]:
        present = sorted((uid for uid in uids if self.msn(uid) is not None), reverse=True)
        if not present:
            return []
        if self.qresync:
            lines = [b"* VANISHED " + uid_set(sorted(present)).encode() + b"\r\n"]
        else:
            lines = [b"* %d EXPUNGE\r\n" % self.msn(uid) for uid in present]
        for uid in present:
            del self.uids[bisect.bisect_left(self.uids, uid)]
            self.recent.discard(uid)
            self._echoed.pop(uid, None)
        return lines


def flag_names(bits: int, keywords: Sequence[str], *, recent: bool = False) -> list[str]:
    """The FLAGS of a message as this session shows them (\\Recent is per session)."""
    names = imap_names(bits, keywords)
    return [*names, "\\Recent"] if recent else names


def flag_list(bits: int, keywords: Sequence[str], *, recent: bool = False) -> bytes:
    """A parenthesised flag list for the wire."""
    return ("(" + " ".join(flag_names(bits, keywords, recent=recent)) + ")").encode()


def uid_set(uids: Sequence[int]) -> str:
    """A compact UID set: 1,3:5,9."""
    spans: list[str] = []
    start = previous = uids[0]
    for uid in uids[1:]:
        if uid == previous + 1:
            previous = uid
            continue
        spans.append(str(start) if start == previous else f"{start}:{previous}")
        start = previous = uid
    spans.append(str(start) if start == previous else f"{start}:{previous}")
    return ",".join(spans)



