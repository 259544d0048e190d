"""SEARCH in one folder (RFC 3501 6.4.4, RFC 7162 MODSEQ, RFC 5032 YOUNGER/OLDER): a
`SearchKey` tree answered from the index, header blocks read only for the messages a header key
still has to decide, and message files only for BODY/TEXT.

Implementation notes:
- The tree is compiled once into leaves of three costs: index (a condition on `messages`),
  header (the cached header block in `message_headers`) and file (BODY, TEXT). Constants fold
  (ALL, RECENT with no recent messages, an impossible KEYWORD); AND and OR put their cheapest
  children first.
- When every leaf is an exact SQL condition the program is one WHERE and one query.
- Otherwise each leaf gives two SQL conditions: `maybe` (the message can match) and `surely`
  (it does); they are the same for exact leaves, TRUE and FALSE for header and file leaves.
  The program's upper bound (`maybe` under an even number of NOTs, `surely` under an odd one)
  selects the candidate rows, each leaf comes back as a column, and a three-valued (Kleene)
  evaluation decides what it can. This is exact, not a heuristic: a message is decided only
  when every value of the unknown leaves gives the same answer. Undecided messages go on to
  their header blocks, which the same query returns only for them (a CASE on the program's
  lower bound around a correlated subquery; decided rows carry NULL), then to their files,
  read one at a time, so a BODY search over 100,000 messages holds one message in memory.
  Each stage evaluates the same tree with more leaves known: `UNSEEN BODY x` reads only the
  unseen messages' files, `UNSEEN FROM x` only their header blocks.
- Dates, RFC 3501 6.4.4 "disregarding time and timezone": BEFORE/ON/SINCE compare the date of
  the internal date in its own zone. `internal_date + internal_tz * 60` is the local wall-clock
  time in seconds since the epoch, and local midnight of date D is `days(D) * 86400` on that
  scale, so each key is an integer comparison that SQLite and PostgreSQL evaluate alike,
  without date functions or session time zones.
- SENTBEFORE/SENTON/SENTSINCE compare the date of the Date: field in the sender's own zone (as
  Dovecot does). The index keeps `sent_date` in UTC without the zone, which is less than a day
  away (Python refuses offsets of 24 h or more, so no such date is stored): `sent_date`
  decides every message more than a day from the boundary in SQL, and the few within a day are
  decided from the Date: field of their cached header block. A message without a usable
  Date: field matches no SENT* key (`sent_date` is NULL; the SQL guards against NULL).
- RECENT comes from the session (`recent_uids`): the store keeps no \\Recent (RFC 9051 dropped
  it). NEW is RECENT UNSEEN, OLD is NOT RECENT. SEQSET never reaches the store (ValueError);
  the session turns sequence numbers (and "$") into UIDs.
- YOUNGER n / OLDER n (RFC 5032): the internal date is at most / more than n seconds before
  now, from the store's injected clock; the two are complements.
- Strings: see `search_text` (case folding, RFC 2047, transfer encodings, charsets).
  `charset_ok=False` compares octets (see `search_text.Folding`).
- The candidate rows are streamed (STREAM_ROWS at a time; undecided ones are kept without
  their header block) inside one read transaction, which ends before any file is read: a long
  BODY search holds back neither SQLite's checkpoints nor writers. Nothing here takes a
  write lock.
- Bounds: MAX_DEPTH levels of nesting and MAX_KEYS keys per program (ValueError beyond,
  which also keeps SQLite under its expression-depth limit); a UID or RECENT set of more than
  MAX_SQL_RANGES ranges, or past MAX_PROGRAM_RANGES in the program, is tested in Python on
  the candidate rows rather than sent as SQL (bind parameters stay well under SQLite's 32,766).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, case, false, func, not_, null, or_, select, true, type_coerce
from sqlalchemy.types import Text

from mfserver.store import flags as flagbits
from mfserver.store import maildir
from mfserver.store.index import headers, messages
from mfserver.store.mime import normalize_crlf
from mfserver.store.query import SearchKey
from mfserver.store.search_text import Folding, HeaderText, MessageText, unfolded_fields

INDEX, HEADER, FILE = 0, 1, 2
MAX_DEPTH = 64
MAX_KEYS = 500
MAX_SQL_RANGES = 50  # per UID or RECENT key
MAX_PROGRAM_RANGES = 200  # in the whole program, so the SQL stays within bind-parameter limits
STREAM_ROWS = 2000  # candidate rows fetched at a time
DAY = 86400
SENT_MARGIN = DAY  # a Date: field's zone is less than a day from UTC

_FLAG_KEYS = {
    "ANSWERED": (flagbits.ANSWERED, True), "UNANSWERED": (flagbits.ANSWERED, False),
    "DELETED": (flagbits.DELETED, True), "UNDELETED": (flagbits.DELETED, False),
    "DRAFT": (flagbits.DRAFT, True), "UNDRAFT": (flagbits.DRAFT, False),
    "FLAGGED": (flagbits.FLAGGED, True), "UNFLAGGED": (flagbits.FLAGGED, False),
    "SEEN": (flagbits.SEEN, True), "UNSEEN": (flagbits.SEEN, False),
}
_FIELD_KEYS = {"FROM": "from", "TO": "to", "CC": "cc", "BCC": "bcc", "SUBJECT": "subject"}
_LOCAL_TIME = messages.c.internal_date + messages.c.internal_tz * 60
# the first columns of a candidate row; leaf columns follow, then maybe the header block
_ROW_COLUMNS = (messages.c.id, messages.c.uid, messages.c.filename, messages.c.key,
                messages.c.bare_lf)
ID, UID, FILENAME, KEY, BARE_LF = range(len(_ROW_COLUMNS))


# --- the compiled program ------------------------------------------------------------------

class _Facts:
    """What is known of one message at the current stage."""

    __slots__ = ("row", "header", "text")

    def __init__(self, row: Any, header: HeaderText | None = None,
                 text: MessageText | None = None) -> None:
        self.row = row
        self.header = header
        self.text = text


class _Leaf:
    stage = INDEX
    exact = False
    slot = -1  # index of this leaf's first column in a candidate row

    def columns(self) -> list[Any]:
        return []

    def maybe(self) -> Any:
        return true()

    def surely(self) -> Any:
        return false()

    def value(self, facts: _Facts) -> bool | None:
        raise NotImplementedError


class _Column(_Leaf):
    """An index key that is exactly one SQL condition."""

    exact = True

    def __init__(self, condition: Any) -> None:
        self.condition = condition

    def columns(self) -> list[Any]:
        return [self.condition]

    def maybe(self) -> Any:
        return self.condition

    surely = maybe

    def value(self, facts: _Facts) -> bool | None:
        return bool(facts.row[self.slot])


class _Ranges(_Leaf):
    """A UID or RECENT set too fragmented for SQL: tested in Python on the candidates."""

    def __init__(self, spans: list[tuple[int, int]]) -> None:
        self.starts = [low for low, _ in spans]
        self.ends = [high for _, high in spans]

    def maybe(self) -> Any:
        return messages.c.uid.between(self.starts[0], self.ends[-1])

    def value(self, facts: _Facts) -> bool | None:
        uid = facts.row[UID]
        at = bisect.bisect_right(self.starts, uid) - 1
        return at >= 0 and uid <= self.ends[at]


class _Sent(_Leaf):
    """SENTBEFORE/SENTON/SENTSINCE: `sent_date` within a day of the boundary is settled by
    the Date: field; see the module notes."""

    stage = HEADER

    def __init__(self, name: str, day: date) -> None:
        self.name = name
        self.day = day
        start = _midnight(day)
        known = messages.c.sent_date.isnot(None)
        sent = messages.c.sent_date
        if name == "SENTBEFORE":
            self._maybe = and_(known, sent < start + SENT_MARGIN)
            self._surely = and_(known, sent <= start - SENT_MARGIN)
        elif name == "SENTSINCE":
            self._maybe = and_(known, sent > start - SENT_MARGIN)
            self._surely = and_(known, sent >= start + SENT_MARGIN)
        else:  # SENTON: never sure from UTC alone
            self._maybe = and_(known, sent > start - SENT_MARGIN,
                               sent < start + DAY + SENT_MARGIN)
            self._surely = false()

    def columns(self) -> list[Any]:
        return [self._maybe, self._surely]

    def maybe(self) -> Any:
        return self._maybe

    def surely(self) -> Any:
        return self._surely

    def value(self, facts: _Facts) -> bool | None:
        if not facts.row[self.slot]:
            return False
        if facts.row[self.slot + 1]:
            return True
        if facts.header is None:
            return None
        sent = sent_day(facts.header.block)
        if sent is None:
            return False
        if self.name == "SENTBEFORE":
            return sent < self.day
        if self.name == "SENTSINCE":
            return sent >= self.day
        return sent == self.day


class _Field(_Leaf):
    """FROM, TO, CC, BCC, SUBJECT, HEADER: a field's decoded text contains the needle."""

    stage = HEADER

    def __init__(self, name: str, needle: str) -> None:
        self.name = name
        self.needle = needle

    def value(self, facts: _Facts) -> bool | None:
        if facts.header is None:
            return None
        return facts.header.field_contains(self.name, self.needle)


class _Body(_Leaf):
    """BODY (the body) and TEXT (header and body)."""

    stage = FILE

    def __init__(self, needle: str, whole: bool) -> None:
        self.needle = needle
        self.whole = whole

    def value(self, facts: _Facts) -> bool | None:
        if facts.text is None:
            return None
        if self.whole:
            return facts.text.text_contains(self.needle)
        return facts.text.body_contains(self.needle)


class _And:
    def __init__(self, children: list) -> None:
        self.children = children


class _Or:
    def __init__(self, children: list) -> None:
        self.children = children


class _Not:
    def __init__(self, child: Any) -> None:
        self.child = child


def _and(children: Iterable[Any]) -> Any:
    kept = []
    for child in children:
        if child is False:
            return False
        if child is not True:
            kept.extend(child.children if isinstance(child, _And) else [child])
    if not kept:
        return True
    return kept[0] if len(kept) == 1 else _And(sorted(kept, key=_cost))


def _or(children: Iterable[Any]) -> Any:
    kept = []
    for child in children:
        if child is True:
            return True
        if child is not False:
            kept.extend(child.children if isinstance(child, _Or) else [child])
    if not kept:
        return False
    return kept[0] if len(kept) == 1 else _Or(sorted(kept, key=_cost))


def _not(child: Any) -> Any:
    if isinstance(child, bool):
        return not child
    return child.child if isinstance(child, _Not) else _Not(child)


def _children(node: Any) -> list[Any]:
    if isinstance(node, (_And, _Or)):
        return node.children
    return [node.child] if isinstance(node, _Not) else []


def _leaves(node: Any) -> Iterable[_Leaf]:
    if isinstance(node, _Leaf):
        yield node
    for child in _children(node):
        yield from _leaves(child)


def _cost(node: Any) -> int:
    return max((leaf.stage for leaf in _leaves(node)), default=INDEX)


def evaluate(node: Any, facts: _Facts) -> bool | None:
    """Kleene's strong three-valued logic: None is 'not known at this stage'."""
    if isinstance(node, _Leaf):
        return node.value(facts)
    if isinstance(node, _Not):
        value = evaluate(node.child, facts)
        return None if value is None else not value
    decisive = isinstance(node, _Or)  # the value that settles the whole node
    result: bool | None = not decisive
    for child in node.children:
        value = evaluate(child, facts)
        if value is decisive:
            return decisive
        if value is None:
            result = None
    return result


def _sql(node: Any, upper: bool) -> Any:
    """The upper bound (upper=True: every match satisfies it) or lower bound (whatever
    satisfies it matches) of `node` as SQL; equal for exact programs."""
    if isinstance(node, _Leaf):
        return node.maybe() if upper else node.surely()
    if isinstance(node, _Not):
        return not_(_sql(node.child, not upper))
    parts = [_sql(child, upper) for child in node.children]
    return and_(*parts) if isinstance(node, _And) else or_(*parts)


# --- compiling SearchKey trees -------------------------------------------------------------

def _midnight(day: date) -> int:
    """Seconds from the epoch to the start of `day` (on a local wall-clock scale)."""
    if isinstance(day, datetime):
        day = day.date()
    if not isinstance(day, date):
        raise ValueError(f"not a date: {day!r}")
    return (day - date(1970, 1, 1)).days * DAY


def _number(key: SearchKey) -> int:
    value = key.value
    if isinstance(value, (tuple, list)) and value:  # MODSEQ [entry-name entry-type] value
        value = value[-1]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{key.name} needs a number, not {key.value!r}")
    return value


def _merge(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[list[int]] = []
    for low, high in sorted(spans):
        if merged and low <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], high)
        else:
            merged.append([low, high])
    return [(low, high) for low, high in merged]


def _runs(uids: Iterable[int]) -> list[tuple[int, int]]:
    return _merge((uid, uid) for uid in uids)


class _Compiler:
    def __init__(self, *, recent: frozenset[int], now: int, folding: Folding,
                 largest: Callable[[], int]) -> None:
        self.recent = recent
        self.now = now
        self.folding = folding
        self.largest = largest
        self.keys = 0
        self.sql_ranges = MAX_PROGRAM_RANGES

    def compile(self, key: SearchKey, depth: int = 0) -> Any:
        if not isinstance(key, SearchKey):
            raise ValueError(f"not a search key: {key!r}")
        self.keys += 1
        if depth > MAX_DEPTH or self.keys > MAX_KEYS:
            raise ValueError("search program too deep or too large")
        name = key.name.upper()
        if name in ("AND", "OR", "NOT"):
            children = [self.compile(child, depth + 1) for child in key.children]
            if name == "NOT":
                if len(children) != 1:
                    raise ValueError("NOT takes one key")
                return _not(children[0])
            if name == "OR" and len(children) != 2:
                raise ValueError("OR takes two keys")
            return _and(children) if name == "AND" else _or(children)
        return self.leaf(name, key)

    def leaf(self, name: str, key: SearchKey) -> Any:
        m = messages.c
        if name == "ALL":
            return True
        if name in _FLAG_KEYS:
            bit, present = _FLAG_KEYS[name]
            test = m.flags.op("&")(bit)
            return _Column(test != 0 if present else test == 0)
        if name in ("KEYWORD", "UNKEYWORD"):
            found = self.keyword(key.value)
            return found if name == "KEYWORD" else _not(found)
        if name in ("BEFORE", "ON", "SINCE"):
            start = _midnight(key.value)
            if name == "BEFORE":
                return _Column(_LOCAL_TIME < start)
            if name == "SINCE":
                return _Column(_LOCAL_TIME >= start)
            return _Column(and_(_LOCAL_TIME >= start, _LOCAL_TIME < start + DAY))
        if name in ("SENTBEFORE", "SENTON", "SENTSINCE"):
            _midnight(key.value)
            value = key.value.date() if isinstance(key.value, datetime) else key.value
            return _Sent(name, value)
        if name == "LARGER":
            return _Column(m.size > _number(key))
        if name == "SMALLER":
            return _Column(m.size < _number(key))
        if name == "MODSEQ":
            return _Column(m.modseq >= _number(key))
        if name == "YOUNGER":
            return _Column(m.internal_date >= self.now - _number(key))
        if name == "OLDER":
            return _Column(m.internal_date < self.now - _number(key))
        if name == "UID":
            return self.uids(key.value)
        if name == "RECENT":
            return self.ranges(_runs(self.recent))
        if name == "NEW":
            return _and([self.ranges(_runs(self.recent)), self.leaf("UNSEEN", key)])
        if name == "OLD":
            return _not(self.ranges(_runs(self.recent)))
        if name in _FIELD_KEYS:
            return _Field(_FIELD_KEYS[name], self.folding.needle(self.text(key.value)))
        if name == "HEADER":
            field, text = key.value
            return _Field(str(field).strip().lower(), self.folding.needle(self.text(text)))
        if name in ("BODY", "TEXT"):
            needle = self.folding.needle(self.text(key.value))
            return True if not needle else _Body(needle, whole=name == "TEXT")
        if name == "SEQSET":
            raise ValueError("SEQSET reaches the store: the session turns it into UID")
        raise ValueError(f"unknown search key {key.name!r}")

    @staticmethod
    def text(value: Any) -> str | bytes:
        if not isinstance(value, (str, bytes)):
            raise ValueError(f"not a string: {value!r}")
        return value

    def keyword(self, value: Any) -> Any:
        try:
            keyword = flagbits.check_keyword(str(value))
        except flagbits.InvalidFlag:
            return False  # no stored keyword can be equal to it
        words = type_coerce(" ", Text) + type_coerce(func.lower(messages.c.keywords), Text) + " "
        return _Column(words.contains(f" {keyword.lower()} ", autoescape=True))

    def uids(self, value: Any) -> Any:
        # an imap.syntax.SequenceSet; the store does not import the protocol's module
        if not hasattr(value, "resolve") or getattr(value, "saved", False):
            raise ValueError("UID needs a resolved UID set")
        ranges = value.ranges
        largest = self.largest() if any(None in pair for pair in ranges) else 0
        return self.ranges(_merge(value.resolve(largest)))

    def ranges(self, spans: list[tuple[int, int]]) -> Any:
        if not spans:
            return False
        if len(spans) > min(MAX_SQL_RANGES, self.sql_ranges):
            return _Ranges(spans)
        self.sql_ranges -= len(spans)
        uid = messages.c.uid
        return _Column(or_(*(uid == low if low == high else uid.between(low, high)
                             for low, high in spans)))


# --- running a search ----------------------------------------------------------------------

def sent_day(block: bytes) -> date | None:
    """The date of the first Date: field in its own zone, parsed as delivery parsed it."""
    for name, value in unfolded_fields(block):
        if name == "date":
            try:
                when = parsedate_to_datetime(value.decode("latin-1")[:1000])
            except (TypeError, ValueError, IndexError, OverflowError):
                return None
            return (when if when.tzinfo is not None else when.replace(tzinfo=UTC)).date()
    return None


def search_folder(store: Any, account_id: int, folder_id: int, criteria: SearchKey, *,
                  charset_ok: bool = True, recent_uids: frozenset[int] = frozenset()
                  ) -> list[int]:
    """UIDs of the folder's messages that match `criteria`, ascending; see the module notes.
    `store` is the `Store` (its database, clock and folder lookup are used)."""
    folding = Folding(unicode=charset_ok)
    matches: list[int] = []
    with store.database.read() as session:
        folder = store._folder_by_id(session, account_id, folder_id)
        in_folder = messages.c.folder_id == folder.id

        def largest() -> int:
            return session.execute(select(func.max(messages.c.uid)).where(in_folder)
                                   ).scalar() or 0

        program = _Compiler(recent=frozenset(recent_uids), now=int(store.clock()),
                            folding=folding, largest=largest).compile(criteria)
        if program is False:
            return []
        leaves = list(_leaves(program))
        if all(leaf.exact for leaf in leaves):
            where = in_folder if program is True else and_(in_folder, _sql(program, True))
            return list(session.execute(select(messages.c.uid).where(where)
                                        .order_by(messages.c.uid)).scalars())
        columns = list(_ROW_COLUMNS)
        for leaf in leaves:
            leaf.slot = len(columns)
            columns.extend(leaf.columns())
        width = len(columns)
        if any(leaf.stage == HEADER for leaf in leaves):
            # the header block, only for the rows the index leaves cannot decide
            block = (select(headers.c.header).where(headers.c.message_id == messages.c.id)
                     .scalar_subquery())
            columns.append(case((_sql(program, False), null()), else_=block))
        query = (select(*columns).where(in_folder, _sql(program, True))
                 .order_by(messages.c.uid)
                 .execution_options(stream_results=True, max_row_buffer=STREAM_ROWS))
        result = session.execute(query)
        rows = (row for part in result.partitions(STREAM_ROWS) for row in part)
        pending = _decide(program, rows, matches, width,
                          lambda row: _Facts(row, _header(row, width, folding)))
    if pending:
        _file_stage(program, folder.path, pending, matches, folding)
    return sorted(matches)


def _header(row: Any, width: int, folding: Folding) -> HeaderText | None:
    if len(row) > width and row[width] is not None:
        return HeaderText(row[width], folding)
    return None


def _decide(program: Any, rows: Iterable[Any], matches: list[int], width: int,
            facts: Callable[[Any], _Facts | None]) -> list[tuple]:
    """Evaluate `program` on each row: matches go to `matches`; the undecided rows are
    returned, cut to their first `width` columns (no header block kept in memory)."""
    pending = []
    for row in rows:
        known = facts(row)
        if known is None:
            continue  # the message went away
        value = evaluate(program, known)
        if value is None:
            pending.append(tuple(row[:width]))
        elif value:
            matches.append(row[UID])
    return pending


def _file_stage(program: Any, folder_path: Path, rows: list[tuple], matches: list[int],
                folding: Folding) -> None:
    """Read the files of the undecided messages one at a time and decide them."""
    def facts(row: tuple) -> _Facts | None:
        raw = _read(folder_path, row)
        if raw is None:
            return None
        text = MessageText(raw, folding)
        return _Facts(row, text.header, text)

    undecided = _decide(program, rows, matches, len(_ROW_COLUMNS), facts)
    assert not undecided, "every key is known once the file is read"


def _read(folder_path: Path, row: tuple) -> bytes | None:
    """The message file of an index row (CRLF), following a rename by another program;
    None when it is gone (expunged meanwhile)."""
    for filename in (row[FILENAME], None):
        if filename is None:
            found = maildir.find_key(folder_path, row[KEY])
            if found is None:
                return None
            filename = found
        try:
            data = maildir.message_file(folder_path, filename).read_bytes()
        except FileNotFoundError:
            continue
        return normalize_crlf(data) if row[BARE_LF] else data
    return None
