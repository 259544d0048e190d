"""Two sessions on one mailbox stay consistent with the store, whatever their commands' order.

A hypothesis property over the wire. Two clients select the same new folder (the second with
QRESYNC enabled, so it hears VANISHED instead of EXPUNGE); hypothesis makes sequences of STORE,
EXPUNGE, UID EXPUNGE, APPEND, MOVE, COPY, NOOP, FETCH and SEARCH, each run by one of them. A
third client, the mover, copies messages back from the MOVE target folder; a fourth, the
observer, reads the truth after every command with a fresh EXAMINE and UID FETCH 1:* (FLAGS).

Each session keeps the model a client keeps, message number -> (UID, flags), changed only by
what the server told it (EXISTS, EXPUNGE, VANISHED, FETCH) and by its own silent STOREs. EXISTS
tells a count, not UIDs: the new entries are taken to be the messages above the largest UID the
client knew, which the final UID FETCH in each session confirms. After every command:
- the store did what the command asked, no more: STORE changed exactly the flags named, of
  exactly the messages named; EXPUNGE removed exactly the \\Deleted ones; MOVE and COPY
  answered COPYUID for exactly the messages that exist; new UIDs are above every UID the folder
  ever had (no UID is reused); STATUS counts agree with the messages;
- the acting session's model equals the truth: changes are told before the tagged reply
  (imap.session), except that a FETCH, STORE or SEARCH may leave expunged messages in place
  (RFC 3501 7.4.1);
- no EXPUNGE or VANISHED comes while FETCH, STORE or SEARCH is answered, EXISTS never shrinks
  the mailbox, and every message number told is within the mailbox and has the UID the client
  knows for it (RFC 3501 7.4.1, 7.3.1; RFC 7162 3.2.10).
At the end, after a NOOP in each session, both models equal the truth, and each session's own
UID FETCH 1:* (FLAGS) answers exactly its model.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.imap.conftest import IMAPServer, RawIMAP

_folders = itertools.count(1)
_subjects = itertools.count(1)

FLAGS = ("\\Seen", "\\Flagged", "\\Deleted", "\\Answered", "$Work")
STORE_OPERATIONS = ("+FLAGS", "-FLAGS", "FLAGS", "+FLAGS.SILENT", "-FLAGS.SILENT",
                    "FLAGS.SILENT")
Flags = frozenset[str]

_NUMBERED = re.compile(rb"\* (\d+) (EXISTS|RECENT|EXPUNGE|FETCH)(?: \((.*)\))?\Z")
_VANISHED = re.compile(rb"\* VANISHED (\(EARLIER\) )?([\d:,]+)\Z")
_UID_ITEM = re.compile(rb"(?:^|[ (])UID (\d+)")
_FLAGS_ITEM = re.compile(rb"(?:^|[ (])FLAGS \(([^)]*)\)")
_COPYUID = re.compile(rb"\[COPYUID (\d+) ([\d:,]+) ([\d:,]+)\]")
_APPENDUID = re.compile(rb"\[APPENDUID (\d+) (\d+)\]")
_QUIET = (b"* OK ", b"* FLAGS ", b"* ENABLED", b"* STATUS ")


def uid_list(text: bytes) -> list[int]:
    """The UIDs of a UID set such as 1:3,7 (as COPYUID and VANISHED carry them)."""
    result: list[int] = []
    for part in text.split(b","):
        low, _, high = part.partition(b":")
        a, b = int(low), int(high or low)
        result.extend(range(min(a, b), max(a, b) + 1))
    return result


def flags_of(items: bytes) -> Flags | None:
    """The FLAGS of a FETCH answer, without the session-only \\Recent; None if absent."""
    match = _FLAGS_ITEM.search(items)
    if match is None:
        return None
    return frozenset(name for name in match.group(1).decode().split() if name != "\\Recent")


def applied(operation: str, current: Flags, given: Flags) -> Flags:
    if operation.startswith("+"):
        return current | given
    if operation.startswith("-"):
        return current - given
    return given


@dataclass
class Model:
    """What one client knows of the selected mailbox: message number n is uids[n - 1].

    None stands for what it was not told yet (the UID of a message announced by EXISTS).
    """

    uids: list[int | None] = field(default_factory=list)
    flags: list[Flags | None] = field(default_factory=list)
    searched: list[int | None] = field(default_factory=list)  # the UIDs at `* SEARCH`

    def told(self, line: bytes, *, numbers_fixed: bool, vanished_allowed: bool) -> None:
        """Apply one untagged response, checking that the server may send it now."""
        if line.startswith(_QUIET):
            return
        if line.startswith((b"* SEARCH", b"* ESEARCH")):
            self.searched = list(self.uids)
            return
        vanished = _VANISHED.fullmatch(line)
        if vanished is not None:
            if vanished.group(1):  # VANISHED (EARLIER) reports, it does not remove
                return
            assert vanished_allowed, f"VANISHED without QRESYNC: {line!r}"
            assert not numbers_fixed, f"VANISHED while numbers must not shift: {line!r}"
            for uid in uid_list(vanished.group(2)):
                # RFC 7162 3.2.10: only UIDs the client has, so EXISTS stays right
                assert uid in self.uids, f"VANISHED {uid} not in the client's view {self.uids}"
                self._remove(self.uids.index(uid))
            return
        match = _NUMBERED.fullmatch(line)
        assert match is not None, f"unexpected response {line!r}"
        number, kind, items = int(match.group(1)), match.group(2), match.group(3)
        if kind == b"EXISTS":
            assert number >= len(self.uids), \
                f"EXISTS {number} shrinks a mailbox of {len(self.uids)} (RFC 3501 7.3.1)"
            grow = number - len(self.uids)
            self.uids.extend([None] * grow)
            self.flags.extend([None] * grow)
        elif kind == b"RECENT":
            assert number <= len(self.uids), line
        elif kind == b"EXPUNGE":
            assert not vanished_allowed, f"EXPUNGE after QRESYNC was enabled: {line!r}"
            assert not numbers_fixed, f"EXPUNGE while numbers must not shift: {line!r}"
            assert 1 <= number <= len(self.uids), \
                f"EXPUNGE {number} outside a mailbox of {len(self.uids)}"
            self._remove(number - 1)
        else:
            assert items is not None
            assert 1 <= number <= len(self.uids), \
                f"{line!r} outside a mailbox of {len(self.uids)}"
            uid = _UID_ITEM.search(items)
            if uid is not None:
                known = self.uids[number - 1]
                assert known in (None, int(uid.group(1))), \
                    f"{line!r}: the client knows message {number} as UID {known}"
                self.uids[number - 1] = int(uid.group(1))
            flags = flags_of(items)
            if flags is not None:
                self.flags[number - 1] = flags

    def _remove(self, index: int) -> None:
        del self.uids[index]
        del self.flags[index]

    def known(self) -> list[int]:
        return [uid for uid in self.uids if uid is not None]


class Session:
    """A client with a mailbox selected, and its model of that mailbox."""

    def __init__(self, server: IMAPServer, qresync: bool) -> None:
        self.server = server
        self.qresync = qresync
        self.raw = self._connect()
        self.model = Model()

    def _connect(self) -> RawIMAP:
        raw = RawIMAP(self.server)
        raw.sock.settimeout(10)
        raw.login()
        if self.qresync:
            raw.command(b"ENABLE QRESYNC")
        return raw

    def recover(self) -> None:
        """Be ready for a new example whatever the last one left (unread lines, a closed
        connection)."""
        try:
            self.raw.command(b"NOOP")
        except (OSError, ConnectionError):
            self.raw.close()
            self.raw = self._connect()
        self.model = Model()

    def run(self, text: bytes, *, numbers_fixed: bool = False) -> list[bytes]:
        """Send a command; apply every untagged response to the model."""
        lines = self.raw.command(text)
        for line in lines[:-1]:
            self.model.told(line, numbers_fixed=numbers_fixed, vanished_allowed=self.qresync)
        return lines


@dataclass
class Truth:
    """The folder as the index has it: UIDs ascending, their flags."""

    uids: list[int]
    flags: dict[int, Flags]


class Bench:
    """Two sessions on folder F, the mover on T (F's MOVE target), and the observer."""

    def __init__(self, server: IMAPServer) -> None:
        self.server = server
        self.sessions = [Session(server, qresync=False), Session(server, qresync=True)]
        self.mover = Session(server, qresync=False)
        self.observer = Session(server, qresync=False)
        self.folder = self.target = b""
        self.uidvalidity = 0
        self.ever: set[int] = set()  # every UID the folder ever had
        self.truth = Truth([], {})

    def close(self) -> None:
        for session in (*self.sessions, self.mover, self.observer):
            session.raw.close()

    # -- set-up -----------------------------------------------------------------------------

    def start(self, initial: list[Flags]) -> None:
        for session in (*self.sessions, self.mover, self.observer):
            session.recover()
        number = next(_folders)
        self.folder, self.target = b"Consistent%d" % number, b"Consistent%dT" % number
        self.mover.raw.command(b"CREATE " + self.folder)
        self.mover.raw.command(b"CREATE " + self.target)
        for flags in initial:
            self.mover.raw.command(self._append_command(flags))
        self.mover.raw.command(b"SELECT " + self.target)
        self.uidvalidity, self.ever = 0, set()
        self.truth = self.read_truth()
        self.ever = set(self.truth.uids)
        for session in self.sessions:
            lines = session.run(b"SELECT " + self.folder)
            assert lines[-1].endswith(b"OK [READ-WRITE] SELECT completed"), lines
            self.check_view(session, numbers_fixed=False)

    # -- the truth --------------------------------------------------------------------------

    def read_truth(self) -> Truth:
        lines = self.observer.raw.command(b"EXAMINE " + self.folder)
        exists = next(int(line.split()[1]) for line in lines if line.endswith(b" EXISTS"))
        validity = next(int(m.group(1)) for line in lines
                        if (m := re.search(rb"\[UIDVALIDITY (\d+)\]", line)))
        if self.uidvalidity and validity != self.uidvalidity and self.ever:
            raise AssertionError(f"UIDVALIDITY changed from {self.uidvalidity} to {validity}")
        self.uidvalidity = validity
        lines = self.observer.raw.command(b"UID FETCH 1:* (FLAGS)")
        assert lines[-1].endswith(b"OK FETCH completed"), lines
        uids, flags = [], {}
        for number, line in enumerate(lines[:-1], 1):
            match = _NUMBERED.fullmatch(line)
            assert match is not None and int(match.group(1)) == number, lines
            uid = int(_UID_ITEM.search(match.group(3)).group(1))
            uids.append(uid)
            flags[uid] = flags_of(match.group(3))
        assert len(uids) == exists and uids == sorted(set(uids)), lines
        return Truth(uids, flags)

    def check_store(self, expected: Truth) -> None:
        """The index now holds `expected`, and STATUS counts it right."""
        truth = self.read_truth()
        assert truth.uids == expected.uids, "the folder's messages"
        assert truth.flags == expected.flags, "the messages' flags"
        status = self.mover.raw.command(b"STATUS " + self.folder +
                                        b" (MESSAGES UIDNEXT UNSEEN DELETED)")
        values = dict(re.findall(rb"([A-Z]+) (\d+)", status[0].split(b"(", 1)[1]))
        assert int(values[b"MESSAGES"]) == len(truth.uids), status
        assert int(values[b"UNSEEN"]) == sum("\\Seen" not in f for f in truth.flags.values())
        assert int(values[b"DELETED"]) == sum("\\Deleted" in f for f in truth.flags.values())
        assert int(values[b"UIDNEXT"]) > max(self.ever, default=0), status
        self.truth = truth

    def check_view(self, session: Session, *, numbers_fixed: bool) -> None:
        """The session's model is the truth; a command that must not shift message numbers
        may have left messages expunged meanwhile in place (RFC 3501 7.4.1)."""
        model, truth = session.model, self.truth
        unknown = [index for index, uid in enumerate(model.uids) if uid is None]
        if unknown:
            assert unknown == list(range(unknown[0], len(model.uids))), model.uids
            largest = max(model.known(), default=0)
            arrived = [uid for uid in truth.uids if uid > largest]
            assert len(arrived) == len(unknown), \
                f"EXISTS announced {len(unknown)} new messages; there are {arrived}"
            for index, uid in zip(unknown, arrived, strict=True):
                model.uids[index] = uid
        for index, uid in enumerate(model.uids):
            if model.flags[index] is None and uid in truth.flags:
                model.flags[index] = truth.flags[uid]
        assert model.uids == sorted(set(model.uids)), f"UIDs out of order: {model.uids}"
        held = [uid for uid in model.uids if uid not in truth.flags]
        if not numbers_fixed:
            assert not held, f"expunged messages {held} are still in the session's view"
        assert set(held) <= self.ever, held
        assert [uid for uid in model.uids if uid not in held] == truth.uids, \
            f"the session sees {model.uids}, the folder has {truth.uids}"
        for uid, flags in zip(model.uids, model.flags, strict=True):
            if uid not in held:
                assert flags == truth.flags[uid], \
                    f"the session thinks UID {uid} has {sorted(flags or ())}, it has " \
                    f"{sorted(truth.flags[uid])}"

    def new_uids(self, uids: list[int]) -> None:
        """UIDs given to new messages are above all the folder ever had (RFC 3501 2.3.1.1)."""
        assert min(uids) > max(self.ever, default=0), \
            f"new UIDs {uids}, the folder had up to {max(self.ever, default=0)}"
        self.ever.update(uids)

    # -- message sets -----------------------------------------------------------------------

    def numbers(self, session: Session, picks: list[tuple[int, int | None]]) -> tuple[bytes, list[int]]:
        """A message-number set from `picks`, and the UIDs the client means by it."""
        count = len(session.model.uids)
        parts, chosen = [], set()
        for first, last in picks:
            low = 1 + first % count
            if last is None:
                parts.append(b"%d" % low)
                chosen.add(low)
            elif last % 4 == 0:
                parts.append(b"%d:*" % low)
                chosen.update(range(low, count + 1))
            else:
                high = 1 + last % count
                parts.append(b"%d:%d" % (high, low))
                chosen.update(range(min(low, high), max(low, high) + 1))
        return b",".join(parts), sorted(session.model.uids[n - 1] for n in chosen)

    def uid_set(self, session: Session, picks: list[tuple[int, int | None]]) -> tuple[bytes, list[int]]:
        """A UID set from `picks`, and the UIDs of the client's view it names."""
        known = session.model.known()
        parts, chosen = [], set()
        for first, last in picks:
            low = known[first % len(known)]
            if last is None:
                parts.append(b"%d" % low)
                chosen.add(low)
            elif last % 4 == 0:
                parts.append(b"%d:*" % low)  # "*" is the largest UID in the view
                chosen.update(uid for uid in known if uid >= low)
            else:
                high = known[last % len(known)] + last % 3  # may name UIDs that do not exist
                parts.append(b"%d:%d" % (high, low))
                chosen.update(uid for uid in known if min(low, high) <= uid <= max(low, high))
        return b",".join(parts), sorted(chosen)

    def message_set(self, session: Session, picks: list[tuple[int, int | None]],
                    by_uid: bool) -> tuple[bytes, list[int]]:
        return self.uid_set(session, picks) if by_uid else self.numbers(session, picks)

    # -- operations -------------------------------------------------------------------------

    def step(self, session: Session, text: bytes, expected: Truth | None = None, *,
             numbers_fixed: bool = False) -> list[bytes]:
        """Run one command, then check the store and the session's view."""
        lines = session.run(text, numbers_fixed=numbers_fixed)
        assert lines[-1].split(b" ")[1] == b"OK", lines
        self.check_store(expected or self.truth)
        self.check_view(session, numbers_fixed=numbers_fixed)
        return lines

    def noop(self, session: Session) -> None:
        self.step(session, b"NOOP")

    def store(self, session: Session, picks: list, operation: str, names: list[str],
              by_uid: bool) -> None:
        if not session.model.uids:
            return self.noop(session)
        text, targets = self.message_set(session, picks, by_uid)
        given = frozenset(names)
        flags = dict(self.truth.flags)
        for uid in targets:
            if uid in flags:
                flags[uid] = applied(operation, flags[uid], given)
        command = (b"UID " if by_uid else b"") + b"STORE " + text + b" " + \
            operation.encode() + b" (" + " ".join(sorted(given)).encode() + b")"
        lines = session.run(command, numbers_fixed=not by_uid)
        assert lines[-1].endswith(b"OK STORE completed"), lines
        if operation.endswith(".SILENT"):  # the client applies what it asked for itself
            model = session.model
            for index, uid in enumerate(model.uids):
                if uid in targets and model.flags[index] is not None:
                    model.flags[index] = applied(operation, model.flags[index], given)
        self.check_store(Truth(self.truth.uids, flags))
        self.check_view(session, numbers_fixed=not by_uid)

    def expunge(self, session: Session) -> None:
        kept = [uid for uid in self.truth.uids if "\\Deleted" not in self.truth.flags[uid]]
        self.step(session, b"EXPUNGE", Truth(kept, {uid: self.truth.flags[uid] for uid in kept}))

    def delete_and_expunge(self, session: Session, picks: list) -> None:
        self.store(session, picks, "+FLAGS.SILENT", ["\\Deleted"], by_uid=False)
        self.expunge(session)

    def uid_expunge(self, session: Session, picks: list) -> None:
        if not session.model.known():
            return self.noop(session)
        text, targets = self.uid_set(session, picks)
        kept = [uid for uid in self.truth.uids
                if uid not in targets or "\\Deleted" not in self.truth.flags[uid]]
        self.step(session, b"UID EXPUNGE " + text,
                  Truth(kept, {uid: self.truth.flags[uid] for uid in kept}))

    def _append_command(self, flags: Flags) -> bytes:
        message = b"From: a@example.org\r\nSubject: m%d\r\n\r\nbody\r\n" % next(_subjects)
        return b"APPEND " + self.folder + b" (" + " ".join(sorted(flags)).encode() + \
            b") {%d+}\r\n" % len(message) + message

    def append(self, session: Session, flags: Flags) -> None:
        lines = session.run(self._append_command(flags))
        appended = _APPENDUID.search(lines[-1])
        assert appended is not None, lines
        assert int(appended.group(1)) == self.uidvalidity
        uid = int(appended.group(2))
        self.new_uids([uid])
        self.check_store(Truth(self.truth.uids + [uid], {**self.truth.flags, uid: flags}))
        self.check_view(session, numbers_fixed=False)

    def move(self, session: Session, picks: list, by_uid: bool) -> None:
        if not session.model.uids:
            return self.noop(session)
        text, targets = self.message_set(session, picks, by_uid)
        existing = [uid for uid in targets if uid in self.truth.flags]
        lines = session.run((b"UID " if by_uid else b"") + b"MOVE " + text + b" " + self.target)
        assert lines[-1].split(b" ")[1] == b"OK", lines
        copied = [_COPYUID.search(line) for line in lines if b"[COPYUID" in line]
        moved = uid_list(copied[0].group(2)) if copied else []
        assert moved == existing, f"MOVE of {targets} moved {moved}; {existing} existed"
        kept = [uid for uid in self.truth.uids if uid not in existing]
        self.check_store(Truth(kept, {uid: self.truth.flags[uid] for uid in kept}))
        self.check_view(session, numbers_fixed=False)

    def copy(self, session: Session, picks: list) -> None:
        """COPY into the selected folder itself."""
        if not session.model.uids:
            return self.noop(session)
        text, targets = self.numbers(session, picks)
        existing = [uid for uid in targets if uid in self.truth.flags]
        lines = session.run(b"COPY " + text + b" " + self.folder)
        self._copied(lines, existing, self.truth.flags)
        self.check_view(session, numbers_fixed=False)

    def copy_back(self, pick: int) -> None:
        """The mover copies one message from T back into F."""
        lines = self.mover.raw.command(b"SELECT " + self.target)
        lines = self.mover.raw.command(b"UID FETCH 1:* (FLAGS)")
        found = {int(_UID_ITEM.search(line).group(1)): flags_of(line) for line in lines[:-1]}
        if not found:
            return
        uid = sorted(found)[pick % len(found)]
        lines = self.mover.raw.command(b"UID COPY %d " % uid + self.folder)
        self._copied(lines, [uid], found)

    def _copied(self, lines: list[bytes], sources: list[int], flags: dict[int, Flags]) -> None:
        assert lines[-1].split(b" ")[1] == b"OK", lines
        copied = _COPYUID.search(lines[-1])
        if not sources:
            assert copied is None, lines
            return self.check_store(self.truth)
        assert copied is not None and int(copied.group(1)) == self.uidvalidity, lines
        assert uid_list(copied.group(2)) == sources, lines
        new = uid_list(copied.group(3))
        assert len(new) == len(sources), lines
        self.new_uids(new)
        added = {uid: flags[source] for source, uid in zip(sources, new, strict=True)}
        self.check_store(Truth(self.truth.uids + new, {**self.truth.flags, **added}))

    def fetch(self, session: Session, picks: list, by_uid: bool) -> None:
        if not session.model.uids:
            return self.noop(session)
        text, targets = self.message_set(session, picks, by_uid)
        lines = session.run((b"UID " if by_uid else b"") + b"FETCH " + text + b" (UID FLAGS)",
                            numbers_fixed=not by_uid)
        fetched = [int(uid.group(1)) for line in lines if b" FETCH (" in line
                   and (uid := _UID_ITEM.search(line)) and int(uid.group(1)) in targets]
        existing = [uid for uid in targets if uid in self.truth.flags]
        # (a flag change told after the answer may repeat a message)
        assert sorted(set(fetched)) == existing, f"FETCH of {targets} answered {fetched}"
        # a message expunged meanwhile cannot be fetched by number (RFC 5530 EXPUNGEISSUED)
        gone = not by_uid and existing != targets
        assert lines[-1].split(b" ", 1)[1] == (b"NO [EXPUNGEISSUED] Some messages were expunged "
                                               b"meanwhile" if gone else b"OK FETCH completed")
        self.check_store(self.truth)
        self.check_view(session, numbers_fixed=not by_uid)

    def search(self, session: Session, by_uid: bool) -> None:
        lines = session.run((b"UID " if by_uid else b"") + b"SEARCH FLAGGED",
                            numbers_fixed=not by_uid)
        assert lines[-1].endswith(b"OK SEARCH completed"), lines
        found = [int(word) for word in lines[0].split()[2:]] if lines[0].startswith(
            b"* SEARCH") else []
        view = session.model.searched
        uids = found if by_uid else [view[number - 1] for number in found]
        expected = [uid for uid in view
                    if uid in self.truth.flags and "\\Flagged" in self.truth.flags[uid]]
        assert uids == expected, f"SEARCH FLAGGED found {uids}, expected {expected}"
        self.check_store(self.truth)
        self.check_view(session, numbers_fixed=not by_uid)

    # -- the end ----------------------------------------------------------------------------

    def finish(self) -> None:
        for session in self.sessions:
            self.noop(session)
        for session in self.sessions:
            lines = session.run(b"UID FETCH 1:* (FLAGS)")
            answers = []
            for line in lines[:-1]:
                match = _NUMBERED.fullmatch(line)
                assert match is not None and match.group(2) == b"FETCH", lines
                answers.append((int(match.group(1)),
                                int(_UID_ITEM.search(match.group(3)).group(1)),
                                flags_of(match.group(3))))
            model = session.model
            assert answers == list(zip(range(1, len(model.uids) + 1), model.uids, model.flags,
                                       strict=True)), \
                f"UID FETCH answered {answers}; the client's model is {model}"


# -- the property -------------------------------------------------------------------------------

who = st.integers(0, 1)
picks = st.lists(st.tuples(st.integers(0, 999), st.none() | st.integers(0, 999)),
                 min_size=1, max_size=3)
flag_sets = st.sets(st.sampled_from(FLAGS), max_size=3).map(frozenset)
operations = st.one_of(
    st.tuples(st.just("store"), who, picks, st.sampled_from(STORE_OPERATIONS),
              st.lists(st.sampled_from(FLAGS), min_size=1, max_size=3, unique=True),
              st.booleans()),
    st.tuples(st.just("delete_and_expunge"), who, picks),
    st.tuples(st.just("expunge"), who),
    st.tuples(st.just("uid_expunge"), who, picks),
    st.tuples(st.just("append"), who, flag_sets),
    st.tuples(st.just("move"), who, picks, st.booleans()),
    st.tuples(st.just("copy"), who, picks),
    st.tuples(st.just("copy_back"), st.integers(0, 999)),
    st.tuples(st.just("noop"), who),
    st.tuples(st.just("fetch"), who, picks, st.booleans()),
    st.tuples(st.just("search"), who, st.booleans()),
)


@pytest.fixture(scope="module")
def bench(imap_server: IMAPServer) -> Iterator[Bench]:
    bench = Bench(imap_server)
    yield bench
    bench.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink], print_blob=True)
@given(st.lists(flag_sets, max_size=5), st.lists(operations, min_size=5, max_size=15))
def test_two_sessions_stay_consistent_with_the_store(bench, initial, steps):
    bench.start(initial)
    for name, *arguments in steps:
        if name == "copy_back":
            bench.copy_back(*arguments)
            continue
        session = bench.sessions[arguments[0]]
        getattr(bench, name)(session, *arguments[1:])
    bench.finish()
