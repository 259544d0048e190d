"""Store.search: every RFC 3501 6.4.4 key (with MODSEQ, YOUNGER/OLDER), decoding of headers and
bodies, dates at zone boundaries, which stage reads what, and random nested programs checked
against an independent evaluator on a generated folder (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import binascii
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from mfserver.imap.syntax import SequenceSet
from mfserver.store import FlagMode, Store, flags
from mfserver.store import search as store_search
from mfserver.store.query import SearchKey
from tests.store.conftest import add_account

NOW = datetime(2024, 3, 11, 0, 0, tzinfo=UTC).timestamp()


def K(name: str, value=None, *children: SearchKey) -> SearchKey:
    return SearchKey(name, value, tuple(children))


def AND(*children: SearchKey) -> SearchKey:
    return SearchKey("AND", children=children)


def OR(a: SearchKey, b: SearchKey) -> SearchKey:
    return SearchKey("OR", children=(a, b))


def NOT(a: SearchKey) -> SearchKey:
    return SearchKey("NOT", children=(a,))


def zone(minutes: int) -> timezone:
    return timezone(timedelta(minutes=minutes))


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8")


@pytest.fixture
def clocked(database, mail_root):
    store = Store(database, mail_root, clock=lambda: NOW)
    account = add_account(database)
    store.provision(account)
    return store, account, store.get_folder(account, "INBOX").id


# --- a hand-made folder ---------------------------------------------------------------------

LUNCH = crlf(  # 1
    "From: Alice Example <alice@example.org>\nTo: Bob <bob@example.net>\n"
    "Cc: Carol <carol@example.com>\nSubject: Lunch plans\n"
    "Date: Sat, 09 Mar 2024 23:30:00 -0500\nX-Tag: green\n\nLet's meet at noon.\n")
GREETINGS = crlf(  # 2
    "From: =?utf-8?q?J=C3=B6rg_M=C3=BCller?= <jorg@example.de>\nTo: alice@example.org\n"
    "Subject: =?iso-8859-1?q?Gr=FC=DFe_aus_?=\n =?utf-8?b?WsO8cmljaA==?=\n"
    "Date: Sun, 10 Mar 2024 00:30:00 +0100\nMIME-Version: 1.0\n"
    "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
    + base64.encodebytes("Schöne Grüße\r\naus der Straße in Zürich\r\n".encode()).decode())
DESSERT = crlf(  # 3
    "From: bob@example.net\nTo: Alice <alice@example.org>\nBcc: Eve <eve@example.org>\n"
    "Subject: dessert\nDate: Mon, 11 Mar 2024 01:00:00 +1400\n"
    "Content-Type: text/plain; charset=ISO-8859-1\nContent-Transfer-Encoding: quoted-printable\n"
    "\nCaf=E9 cr=\n=E8me br=FBl=E9e, tr=E8s=\n bon\n")
REPORT = crlf(  # 4
    "From: Reports <reports@example.com>\nTo: Bob <bob@example.net>\nSubject: Q1 report\n"
    'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b1"\n\n'
    "--b1\nContent-Type: text/plain\n\nThe report is attached.\n"
    '--b1\nContent-Type: application/pdf; name="q1-summary.pdf"\n'
    "Content-Transfer-Encoding: base64\n\n"
    + base64.encodebytes(b"%PDF secretword").decode()
    + "--b1\nContent-Type: message/rfc822\n\nFrom: Dan <dan@example.org>\n"
    "Subject: =?utf-8?q?forwarded_caf=C3=A9?=\n\ninner needle here\n--b1--\n")
FOLDED = crlf(  # 5
    "From: Frank <frank@example.org>\nTo: undisclosed-recipients:;\n"
    "Subject: a very\n long subject line\nDate: not a date at all\nX-Tag: Blue\n"
    "Content-Type: text/html; charset=utf-8\n\n<p>HTML <b>body</b> text</p>\n")

MESSAGES = [
    # raw, flags, keywords, internal date
    (LUNCH, flags.SEEN | flags.FLAGGED, ["$Work"], datetime(2024, 3, 9, 23, 30, tzinfo=zone(-300))),
    (GREETINGS, flags.ANSWERED, ["a_b"], datetime(2024, 3, 10, 0, 30, tzinfo=zone(60))),
    (DESSERT, flags.DRAFT | flags.DELETED, ["axb", "$Work"],
     datetime(2024, 3, 10, 23, 59, 59, tzinfo=zone(0))),
    (REPORT, 0, [], datetime(2024, 3, 8, 12, 0, tzinfo=zone(330))),
    (FOLDED, flags.SEEN, ["Junk"], datetime(2024, 3, 10, 20, 0, tzinfo=zone(0))),
]


@pytest.fixture
def folder(clocked):
    store, account, inbox = clocked
    for raw, bits, keywords, when in MESSAGES:
        store.deliver(account, raw, flags=bits, keywords=keywords, internal_date=when)

    def search(criteria: SearchKey, **kwargs) -> list[int]:
        return store.search(account, inbox, criteria, **kwargs)

    search.store, search.account, search.folder = store, account, inbox
    return search


@pytest.mark.parametrize(("key", "expected"), [
    (K("ALL"), [1, 2, 3, 4, 5]),
    (K("ANSWERED"), [2]), (K("UNANSWERED"), [1, 3, 4, 5]),
    (K("DELETED"), [3]), (K("UNDELETED"), [1, 2, 4, 5]),
    (K("DRAFT"), [3]), (K("UNDRAFT"), [1, 2, 4, 5]),
    (K("FLAGGED"), [1]), (K("UNFLAGGED"), [2, 3, 4, 5]),
    (K("SEEN"), [1, 5]), (K("UNSEEN"), [2, 3, 4]),
    (K("KEYWORD", "$work"), [1, 3]), (K("KEYWORD", "$WORK"), [1, 3]),
    (K("UNKEYWORD", "$Work"), [2, 4, 5]),
    (K("KEYWORD", "a_b"), [2]), (K("KEYWORD", "axb"), [3]),  # '_' is no LIKE wildcard here
    (K("KEYWORD", "a%b"), []), (K("KEYWORD", "a b"), []), (K("UNKEYWORD", "a b"), [1, 2, 3, 4, 5]),
    (K("KEYWORD", "junk"), [5]), (K("KEYWORD", "$Work junk"), []),
])
def test_flag_and_keyword_keys(folder, key, expected):
    assert folder(key) == expected


@pytest.mark.parametrize(("key", "expected"), [
    # internal dates, each in its own zone: 1 is Mar 9 (-0500; Mar 10 in UTC), 2 is Mar 10
    # (+0100; Mar 9 in UTC), 3 is Mar 10 23:59:59 UTC, 4 Mar 8, 5 Mar 10
    (K("ON", date(2024, 3, 9)), [1]),
    (K("ON", date(2024, 3, 10)), [2, 3, 5]),
    (K("ON", date(2024, 3, 8)), [4]),
    (K("ON", date(2024, 3, 11)), []),
    (K("BEFORE", date(2024, 3, 10)), [1, 4]),
    (K("BEFORE", date(2024, 3, 9)), [4]),
    (K("SINCE", date(2024, 3, 10)), [2, 3, 5]),
    (K("SINCE", date(2024, 3, 9)), [1, 2, 3, 5]),
    (K("SINCE", date(2024, 3, 11)), []),
    # Date: fields, in the sender's zone: 1 Mar 9 (-0500), 2 Mar 10 (+0100), 3 Mar 11
    # (+1400, Mar 10 in UTC); 4 has none and 5 a bad one: they match no SENT* key
    (K("SENTON", date(2024, 3, 9)), [1]),
    (K("SENTON", date(2024, 3, 10)), [2]),
    (K("SENTON", date(2024, 3, 11)), [3]),
    (K("SENTBEFORE", date(2024, 3, 10)), [1]),
    (K("SENTBEFORE", date(2024, 3, 11)), [1, 2]),
    (K("SENTSINCE", date(2024, 3, 10)), [2, 3]),
    (K("SENTSINCE", date(2024, 3, 11)), [3]),
    (K("SENTSINCE", date(2024, 1, 1)), [1, 2, 3]),
    (K("SENTBEFORE", date(2025, 1, 1)), [1, 2, 3]),
    (NOT(K("SENTON", date(2024, 3, 10))), [1, 3, 4, 5]),
    (K("SENTON", datetime(2024, 3, 10, 12, 0)), [2]),  # a datetime counts by its date
])
def test_date_keys_at_zone_boundaries(folder, key, expected):
    assert folder(key) == expected


def test_younger_and_older_use_the_clock(folder):
    # NOW is 2024-03-11 00:00 UTC; message 3 arrived one second before it
    assert folder(K("YOUNGER", 1)) == [3]
    assert folder(K("YOUNGER", 0)) == []
    assert folder(K("YOUNGER", 5 * 3600)) == [3, 5]
    assert folder(K("OLDER", 5 * 3600)) == [1, 2, 4]
    assert folder(K("OLDER", 0)) == [1, 2, 3, 4, 5]


def test_sizes_and_uids(folder):
    sizes = {m.uid: m.size for m in folder.store.messages(folder.account, folder.folder)}
    middle = sorted(sizes.values())[2]
    assert folder(K("LARGER", middle)) == sorted(u for u, s in sizes.items() if s > middle)
    assert folder(K("SMALLER", middle)) == sorted(u for u, s in sizes.items() if s < middle)
    assert folder(K("LARGER", 0)) == [1, 2, 3, 4, 5]
    assert folder(K("UID", SequenceSet(((2, 3), (5, 5))))) == [2, 3, 5]
    assert folder(K("UID", SequenceSet(((4, None),)))) == [4, 5]
    assert folder(K("UID", SequenceSet(((None, None),)))) == [5]
    assert folder(K("UID", SequenceSet(((9, 7),)))) == []
    many = SequenceSet(tuple((n, n) for n in range(1, 200, 2)))  # 100 ranges: tested in Python
    assert folder(K("UID", many)) == [1, 3, 5]
    assert folder(NOT(K("UID", many))) == [2, 4]
    assert folder(AND(K("UID", many), K("SEEN"))) == [1, 5]


def test_modseq(folder):
    result = folder.store.store_flags(folder.account, folder.folder, [2, 4], FlagMode.ADD,
                                      flags.SEEN)
    assert folder(K("MODSEQ", result.modseq)) == [2, 4]
    assert folder(K("MODSEQ", ("/flags/\\seen", "all", result.modseq))) == [2, 4]
    assert folder(K("MODSEQ", 0)) == [1, 2, 3, 4, 5]
    assert folder(K("MODSEQ", result.modseq + 1)) == []


def test_recent_new_and_old_come_from_the_session(folder):
    recent = frozenset({2, 5})
    assert folder(K("RECENT"), recent_uids=recent) == [2, 5]
    assert folder(K("NEW"), recent_uids=recent) == [2]
    assert folder(K("OLD"), recent_uids=recent) == [1, 3, 4]
    assert folder(K("RECENT")) == [] and folder(K("NEW")) == []
    assert folder(K("OLD")) == [1, 2, 3, 4, 5]
    scattered = frozenset(range(1, 300, 2))  # too many ranges for SQL
    assert folder(K("NEW"), recent_uids=scattered) == [3]
    assert folder(K("OLD"), recent_uids=scattered) == [2, 4]


@pytest.mark.parametrize(("key", "expected"), [
    (K("FROM", "alice"), [1]),
    (K("FROM", "ALICE EXAMPLE"), [1]),
    (K("FROM", "example.org"), [1, 5]),
    (K("FROM", "jörg müller"), [2]),  # RFC 2047 Q, UTF-8
    (K("FROM", "JÖRG"), [2]),
    (K("FROM", "=?utf-8"), []),  # the decoded text is searched, not the encoded word
    (K("TO", "alice"), [2, 3]),
    (K("TO", "undisclosed"), [5]),
    (K("CC", "carol"), [1]), (K("CC", ""), [1]),
    (K("BCC", "eve"), [3]), (K("BCC", ""), [3]),
    (K("SUBJECT", "grüße aus zürich"), [2]),  # latin-1 Q word + UTF-8 B word, joined
    (K("SUBJECT", "GRÜSSE"), [2]),  # full case folding: ß is ss
    (K("SUBJECT", "very long subject"), [5]),  # unfolded
    (K("SUBJECT", "very\r\n long"), []),
    (K("SUBJECT", "lunch"), [1]),
    (K("SUBJECT", "forwarded"), []),  # the inner message's subject is not the subject
    (K("SUBJECT", ""), [1, 2, 3, 4, 5]),
    (K("HEADER", ("x-tag", "blue")), [5]),
    (K("HEADER", ("X-TAG", "")), [1, 5]),
    (K("HEADER", ("Message-ID", "")), []),
    (K("HEADER", ("content-type", "multipart")), [4]),
    (K("HEADER", ("date", "+0100")), [2]),
])
def test_header_keys(folder, key, expected):
    assert folder(key) == expected


@pytest.mark.parametrize(("key", "expected"), [
    (K("BODY", "noon"), [1]),
    (K("BODY", "schöne grüße"), [2]),  # base64, UTF-8
    (K("BODY", "straße in zürich"), [2]),
    (K("BODY", "café crème brûlée"), [3]),  # quoted-printable latin-1 with a soft break
    (K("BODY", "très bon"), [3]),  # soft break right after a hard-won space
    (K("BODY", "report is attached"), [4]),
    (K("BODY", "secretword"), []),  # inside an application/pdf: not searched
    (K("BODY", "q1-summary.pdf"), [4]),  # a part's MIME header is part of the body
    (K("BODY", "inner needle"), [4]),  # a forwarded message's body
    (K("BODY", "forwarded café"), [4]),  # and its header, decoded
    (K("BODY", "<b>body</b>"), [5]),
    (K("BODY", "lunch"), []),  # the header is not the body
    (K("BODY", ""), [1, 2, 3, 4, 5]),
    (K("TEXT", "lunch"), [1]),
    (K("TEXT", "noon"), [1]),
    (K("TEXT", "jörg"), [2]),
    (K("TEXT", "x-tag: green"), [1]),
    (K("TEXT", "zürich"), [2]),
    (K("TEXT", "inner needle"), [4]),
])
def test_body_and_text_keys(folder, key, expected):
    assert folder(key) == expected


def test_nested_programs_mixing_index_header_and_file_keys(folder):
    assert folder(OR(K("SEEN"), K("BODY", "crème"))) == [1, 3, 5]
    assert folder(AND(K("UNSEEN"), NOT(K("BODY", "crème")))) == [2, 4]
    assert folder(NOT(OR(K("FROM", "alice"), K("TEXT", "zürich")))) == [3, 4, 5]
    assert folder(OR(AND(K("FLAGGED"), K("SUBJECT", "lunch")),
                     AND(K("DELETED"), NOT(K("BODY", "bon"))))) == [1]
    assert folder(AND(K("KEYWORD", "$work"), OR(K("SENTON", date(2024, 3, 11)),
                                                 K("BCC", "nobody")))) == [3]
    assert folder(NOT(NOT(K("SUBJECT", "dessert")))) == [3]
    assert folder(AND()) == [1, 2, 3, 4, 5]


def test_octets_when_the_client_charset_is_unknown(folder):
    assert folder(K("BODY", b"Caf\xe9"), charset_ok=False) == [3]  # latin-1 octets
    # "café" as UTF-8 octets: not in the latin-1 message, but in message 4's forwarded header
    assert folder(K("BODY", "café"), charset_ok=False) == [4]
    assert folder(K("BODY", "SCHÖNE"), charset_ok=False) == []  # no folding beyond ASCII
    assert folder(K("BODY", "schöne"), charset_ok=False) == [2]
    assert folder(K("FROM", "jörg"), charset_ok=False) == [2]
    assert folder(K("SUBJECT", b"gr\xfc\xdfe"), charset_ok=False) == [2]


def test_keys_the_store_refuses(folder):
    for criteria in (K("SEQSET", SequenceSet(((1, 2),))), K("UID", SequenceSet(saved=True)),
                     K("FOO"), K("LARGER", "big"), K("BEFORE", "2024-03-01"),
                     K("BODY", 12), K("NOT", None, K("ALL"), K("ALL"))):
        with pytest.raises(ValueError):
            folder(criteria)
    deep = K("SEEN")
    for _ in range(store_search.MAX_DEPTH + 2):
        deep = NOT(deep)
    with pytest.raises(ValueError):
        folder(deep)


def test_an_empty_folder(clocked):
    store, account, inbox = clocked
    assert store.search(account, inbox, K("UID", SequenceSet(((None, None),)))) == []
    assert store.search(account, inbox, OR(K("ALL"), K("BODY", "x"))) == []


# --- what each stage reads ------------------------------------------------------------------

@pytest.fixture
def spies(monkeypatch):
    """UIDs whose files are read, and the number of cached header blocks searched."""
    read: list[int] = []
    blocks: list[bytes] = []
    real_read, real_header = store_search._read, store_search.HeaderText

    def spy_read(folder_path, row):
        read.append(row[store_search.UID])
        return real_read(folder_path, row)

    def spy_header(block, folding):
        blocks.append(block)
        return real_header(block, folding)

    monkeypatch.setattr(store_search, "_read", spy_read)
    monkeypatch.setattr(store_search, "HeaderText", spy_header)
    return read, blocks


def test_index_keys_read_neither_headers_nor_files(folder, spies):
    read, blocks = spies
    assert folder(AND(K("UNSEEN"), OR(K("SINCE", date(2024, 3, 10)), K("KEYWORD", "$work")),
                      NOT(K("UID", SequenceSet(((4, 4),)))))) == [2, 3]
    assert read == [] and blocks == []


def test_body_search_reads_only_the_candidates_files(folder, spies):
    read, blocks = spies
    assert folder(AND(K("UNSEEN"), K("BODY", "crème"))) == [3]
    assert sorted(read) == [2, 3, 4] and blocks == []
    read.clear()
    assert folder(OR(K("SEEN"), K("BODY", "crème"))) == [1, 3, 5]
    assert sorted(read) == [2, 3, 4]


def test_header_search_reads_headers_not_files(folder, spies):
    read, blocks = spies
    assert folder(AND(K("UNSEEN"), K("FROM", "bob"))) == [3]
    assert len(blocks) == 3 and read == []
    blocks.clear()
    # headers first: a message decided by its From: never has its file read
    assert folder(OR(K("FROM", "alice"), K("BODY", "crème"))) == [1, 3]
    assert len(blocks) == 5 and sorted(read) == [2, 3, 4, 5]


def test_sent_keys_read_headers_only_near_the_boundary(folder, spies):
    read, blocks = spies
    assert folder(K("SENTBEFORE", date(2024, 1, 1))) == []
    assert folder(K("SENTSINCE", date(2024, 1, 1))) == [1, 2, 3]
    assert blocks == [] and read == []
    assert folder(K("SENTON", date(2024, 3, 10))) == [2]
    assert len(blocks) == 3 and read == []


def test_a_message_whose_file_is_gone_matches_no_body_key(folder):
    folder.store.message_path(folder.account, folder.folder, 3).unlink()
    assert folder(K("BODY", "crème")) == []
    assert folder(OR(K("SEEN"), K("BODY", "noon"))) == [1, 5]


def test_a_message_stored_with_bare_lf(clocked, mail_root):
    store, account, inbox = clocked
    raw = LUNCH.replace(b"\r\n", b"\n").replace(b"Subject: Lunch plans", b"Subject: Lunch\n plans")
    (store.account_root(account) / "new" / "1700000000.M1P1.example").write_bytes(raw)
    assert len(store.rescan(account).added) == 1  # indexed as it is, bare_lf
    assert store.search(account, inbox, K("SUBJECT", "lunch plans")) == [1]
    assert store.search(account, inbox, K("TEXT", "x-tag: green")) == [1]
    assert store.search(account, inbox, K("BODY", "meet at noon")) == [1]


# --- random programs against an independent evaluator ---------------------------------------

WORDS = ["alpha", "Bravo", "charlie", "Straße", "café", "Zürich", "naïve", "ÉCOLE", "delta",
         "echo", "fuß", "Øre", "Привет", "МИР", "€uro"]
CHARSETS = ["utf-8", "iso-8859-1", "koi8-r", "windows-1252"]
PEOPLE = [("Alice Example", "alice@example.org"), ("Jörg Müller", "jorg@example.de"),
          ("Bob", "bob@example.net"), ("山田太郎", "yamada@example.jp"), ("", "eve@example.org")]
KEYWORDS = ["$Work", "$label1", "a_b", "axb", "Junk"]


@dataclass
class Facts:
    """What the generator knows of a message, decoded, for the oracle."""

    uid: int
    flags: int
    keywords: tuple[str, ...]
    modseq: int
    size: int
    internal: datetime
    sent: datetime | None
    fields: list[tuple[str, str]]  # (lower name, decoded value) of the top-level header
    body: list[str]  # the decoded pieces BODY searches


def encode_word(text: str, rng: random.Random) -> str:
    """`text` as one RFC 2047 encoded-word in a random charset and encoding."""
    charset = rng.choice(charsets_for(text))
    octets = text.encode(charset)
    if rng.random() < 0.5:
        return f"=?{charset}?b?{base64.b64encode(octets).decode()}?="
    quoted = "".join(chr(b) if chr(b).isalnum() and b < 128 else f"={b:02X}" for b in octets)
    return f"=?{charset}?q?{quoted.replace('=20', '_')}?="


def charsets_for(text: str) -> list[str]:
    """The charsets of CHARSETS that can encode `text` (UTF-8 always can)."""
    found = []
    for charset in CHARSETS:
        try:
            text.encode(charset)
        except UnicodeEncodeError:
            continue
        found.append(charset)
    return found


def address(person: tuple[str, str], rng: random.Random) -> tuple[str, str]:
    name, mail = person
    if not name:
        return mail, mail
    shown = encode_word(name, rng) if not name.isascii() or rng.random() < 0.3 else name
    return f"{shown} <{mail}>", f"{name} <{mail}>"


def random_datetime(rng: random.Random) -> datetime:
    day = datetime(2024, 3, 10) + timedelta(days=rng.randint(-2, 2))
    when = day + timedelta(hours=rng.choice([0, 1, 12, 22, 23]), minutes=rng.randint(0, 59))
    return when.replace(tzinfo=zone(rng.randrange(-720, 841, 30)))


def generate(rng: random.Random, uid: int) -> tuple[bytes, list[tuple[str, str]], list[str],
                                                     datetime | None]:
    """(raw, decoded fields, decoded body pieces, sent date) of one random message."""
    header: list[tuple[str, str, str]] = []  # name, as written, decoded
    shown, decoded = zip(*(address(p, rng) for p in rng.sample(PEOPLE, rng.randint(1, 2))),
                         strict=True)
    header.append(("From", ", ".join(shown), ", ".join(decoded)))
    for name in ("To", "Cc", "Bcc"):
        if name == "To" or rng.random() < 0.3:
            written, plain = address(rng.choice(PEOPLE), rng)
            header.append((name, written, plain))
    subject = " ".join(rng.sample(WORDS, rng.randint(1, 3)))
    if not subject.isascii() or rng.random() < 0.3:
        header.append(("Subject", encode_word(subject, rng), subject))
    else:
        words = subject.split(" ")
        header.append(("Subject", "\r\n ".join(words) if rng.random() < 0.5 else subject,
                       subject))
    sent = None
    if rng.random() < 0.8:
        sent = random_datetime(rng)
        header.append(("Date", format_datetime(sent), format_datetime(sent)))
    elif rng.random() < 0.5:
        header.append(("Date", "someday soon", "someday soon"))
    if rng.random() < 0.4:
        tag = rng.choice(WORDS)
        header.append(("X-Tag", tag, tag))
    header.append(("Message-ID", f"<{uid}.gen@example.org>", f"<{uid}.gen@example.org>"))
    text = "\n".join(" ".join(rng.sample(WORDS, rng.randint(2, 5))) for _ in range(3))
    text = text + " " + "filler " * rng.randint(0, 12)  # long lines get soft breaks
    body_raw, body_pieces, mime = _body(text, rng)
    header.extend(mime)
    block = "".join(f"{name}: {written}\r\n" for name, written, _ in header)
    raw = block.encode("utf-8") + b"\r\n" + body_raw
    fields = [(name.lower(), plain) for name, _, plain in header]
    return raw, fields, body_pieces, sent


def _body(text: str, rng: random.Random) -> tuple[bytes, list[str], list[tuple[str, str, str]]]:
    """(body octets, decoded pieces, top-level MIME fields) of a random encoding of `text`."""
    wanted = text.replace("\n", "\r\n")
    charset = rng.choice(charsets_for(text))
    octets = text.encode(charset)
    choice = rng.choice(["8bit", "base64", "quoted-printable", "multipart"])
    if choice == "multipart":
        part, pieces, part_mime = _body(text, rng)
        while part_mime[0][1].startswith("multipart"):
            part, pieces, part_mime = _body(text, rng)
        part_header = "".join(f"{n}: {w}\r\n" for n, w, _ in part_mime)
        attachment = base64.encodebytes(("secret " + rng.choice(WORDS)).encode()).replace(
            b"\n", b"\r\n")
        raw = (b"--sep\r\n" + part_header.encode() + b"\r\n" + part
               + b"\r\n--sep\r\nContent-Type: application/octet-stream\r\n"
               b"Content-Transfer-Encoding: base64\r\n\r\n" + attachment + b"--sep--\r\n")
        mime_lines = [f"{n.lower()}: {d}" for n, _, d in part_mime]
        pieces = ["\n".join(mime_lines), *pieces,
                  "content-type: application/octet-stream\ncontent-transfer-encoding: base64"]
        return raw, pieces, [("Content-Type", 'multipart/mixed; boundary="sep"',
                              'multipart/mixed; boundary="sep"')]
    if choice == "8bit":
        raw = octets.replace(b"\n", b"\r\n")
    elif choice == "base64":
        raw = base64.encodebytes(octets.replace(b"\n", b"\r\n")).replace(b"\n", b"\r\n")
    else:
        raw = binascii.b2a_qp(octets, istext=True).replace(b"\n", b"\r\n")
    content_type = f"text/plain; charset={charset}"
    return raw, [wanted], [("Content-Type", content_type, content_type),
                           ("Content-Transfer-Encoding", choice, choice)]


def oracle(key: SearchKey, m: Facts, recent: frozenset[int], largest: int) -> bool:
    name = key.name
    if name == "AND":
        return all(oracle(child, m, recent, largest) for child in key.children)
    if name == "OR":
        return any(oracle(child, m, recent, largest) for child in key.children)
    if name == "NOT":
        return not oracle(key.children[0], m, recent, largest)
    if name == "ALL":
        return True
    bits = {"ANSWERED": flags.ANSWERED, "DELETED": flags.DELETED, "DRAFT": flags.DRAFT,
            "FLAGGED": flags.FLAGGED, "SEEN": flags.SEEN}
    if name in bits:
        return bool(m.flags & bits[name])
    if name.startswith("UN") and name[2:] in bits:
        return not m.flags & bits[name[2:]]
    if name == "KEYWORD":
        return key.value.lower() in {k.lower() for k in m.keywords}
    if name == "UNKEYWORD":
        return key.value.lower() not in {k.lower() for k in m.keywords}
    if name in ("BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"):
        when = m.internal if not name.startswith("SENT") else m.sent
        if when is None:
            return False
        day = when.date()  # in its own zone
        test = name.removeprefix("SENT")
        return day < key.value if test == "BEFORE" else (
            day == key.value if test == "ON" else day >= key.value)
    if name == "LARGER":
        return m.size > key.value
    if name == "SMALLER":
        return m.size < key.value
    if name == "MODSEQ":
        return m.modseq >= key.value
    if name == "YOUNGER":
        return m.internal.timestamp() >= NOW - key.value
    if name == "OLDER":
        return m.internal.timestamp() < NOW - key.value
    if name == "UID":
        return key.value.contains(m.uid, largest)
    if name == "RECENT":
        return m.uid in recent
    if name == "NEW":
        return m.uid in recent and not m.flags & flags.SEEN
    if name == "OLD":
        return m.uid not in recent
    if name in ("FROM", "TO", "CC", "BCC", "SUBJECT", "HEADER"):
        field, needle = key.value if name == "HEADER" else (name, key.value)
        return any(needle.casefold() in value.casefold()
                   for fname, value in m.fields if fname == field.lower())
    if name == "BODY":
        return any(key.value.casefold() in piece.casefold() for piece in m.body)
    if name == "TEXT":
        lines = [f"{fname}: {value}" for fname, value in m.fields]
        return any(key.value.casefold() in piece.casefold() for piece in lines + m.body)
    raise AssertionError(name)


def needle(rng: random.Random) -> str:
    source = rng.choice(WORDS + [p[0] or p[1] for p in PEOPLE] + ["example", "secret", "gen"])
    start = rng.randrange(len(source))
    piece = source[start:start + rng.randint(1, 6)]
    return rng.choice([piece, piece.upper(), piece.lower()])


def random_key(rng: random.Random, largest: int, depth: int = 0) -> SearchKey:
    if depth < 3 and rng.random() < 0.4:
        kind = rng.choice(["AND", "OR", "NOT"])
        if kind == "NOT":
            return NOT(random_key(rng, largest, depth + 1))
        count = 2 if kind == "OR" else rng.randint(1, 3)
        return SearchKey(kind, children=tuple(random_key(rng, largest, depth + 1)
                                              for _ in range(count)))
    name = rng.choice([
        "ALL", "ANSWERED", "UNANSWERED", "DELETED", "UNDELETED", "DRAFT", "UNDRAFT", "FLAGGED",
        "UNFLAGGED", "SEEN", "UNSEEN", "RECENT", "NEW", "OLD", "KEYWORD", "UNKEYWORD",
        "BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE", "LARGER", "SMALLER",
        "MODSEQ", "YOUNGER", "OLDER", "UID", "UID", "FROM", "TO", "CC", "BCC", "SUBJECT",
        "HEADER", "BODY", "BODY", "TEXT"])
    if name in ("KEYWORD", "UNKEYWORD"):
        return K(name, rng.choice(KEYWORDS + ["$WORK", "A_B", "missing"]))
    if name in ("BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"):
        return K(name, date(2024, 3, 10) + timedelta(days=rng.randint(-3, 3)))
    if name in ("LARGER", "SMALLER"):
        return K(name, rng.randint(300, 1200))
    if name == "MODSEQ":
        return K(name, rng.randint(1, 12))
    if name in ("YOUNGER", "OLDER"):
        return K(name, rng.randint(0, 4 * 86400))
    if name == "UID":
        ends = [None, *range(1, largest + 3)]
        ranges = tuple((rng.choice(ends), rng.choice(ends)) for _ in range(rng.randint(1, 3)))
        if rng.random() < 0.15:  # fragmented: decided in Python
            ranges = tuple((n, n) for n in range(rng.randint(1, 3), 3 * largest, 2))
        return K(name, SequenceSet(ranges))
    if name == "HEADER":
        field = rng.choice(["x-tag", "Subject", "DATE", "message-id", "content-type", "to"])
        return K(name, (field, rng.choice([needle(rng), ""])))
    if name in ("FROM", "TO", "CC", "BCC", "SUBJECT", "BODY", "TEXT"):
        return K(name, needle(rng) if rng.random() < 0.95 else "")
    return K(name)


@pytest.fixture
def generated(clocked):
    store, account, inbox = clocked
    rng = random.Random(3501)
    drafts = []
    for uid in range(1, 41):
        raw, fields, body, sent = generate(rng, uid)
        internal = random_datetime(rng)
        bits = rng.randrange(32)
        keywords = rng.sample(KEYWORDS, rng.randint(0, 2))
        store.deliver(account, raw, flags=bits, keywords=keywords, internal_date=internal)
        drafts.append((raw, fields, body, sent, internal))
    for _ in range(6):  # spread the MODSEQs
        uids = rng.sample(range(1, 41), 8)
        store.store_flags(account, inbox, uids, rng.choice(list(FlagMode)), rng.randrange(32),
                          rng.sample(KEYWORDS, 1))
    facts = []
    for info, (raw, fields, body, sent, internal) in zip(
            store.messages(account, inbox), drafts, strict=True):
        assert info.size == len(raw)
        facts.append(Facts(info.uid, info.flags, info.keywords, info.modseq, info.size,
                           internal, sent, fields, body))
    return store, account, inbox, facts


def test_the_generated_folder_is_what_the_oracle_thinks(generated):
    store, account, inbox, facts = generated
    for m in facts:  # one key of each kind per message, to catch a wrong generator early
        assert store.search(account, inbox, K("UID", SequenceSet(((m.uid, m.uid),)))) == [m.uid]
        subject = next(value for name, value in m.fields if name == "subject")
        assert m.uid in store.search(account, inbox, K("SUBJECT", subject))
        assert m.uid in store.search(account, inbox, K("BODY", m.body[-1][:20]))


def test_random_programs_match_the_oracle(generated):
    store, account, inbox, facts = generated
    rng = random.Random(9051)
    largest = facts[-1].uid
    checked = 0
    for _ in range(250):
        recent = frozenset(rng.sample([m.uid for m in facts], rng.randint(0, 10)))
        if rng.random() < 0.1:
            recent = frozenset(range(1, 2 * largest, 2))
        program = AND(*(random_key(rng, largest) for _ in range(rng.randint(1, 3))))
        expected = [m.uid for m in facts if oracle(program, m, recent, largest)]
        assert store.search(account, inbox, program, recent_uids=recent) == expected, program
        checked += bool(expected) and len(expected) < len(facts)
    assert checked > 50  # most programs select some messages, not none or all


def test_the_largest_programs_allowed_run_on_the_database(folder):
    """MAX_KEYS keys, as wide and as fragmented as allowed, stay within SQL's limits."""
    plain = (store_search.MAX_KEYS - 3) // 2  # OR, two ANDs, then leaves and NOT leaves
    fragmented = SequenceSet(tuple((n, n) for n in range(1, 2 * store_search.MAX_SQL_RANGES, 2)))
    mixed = [K("UID", fragmented), K("KEYWORD", "$work"), K("SENTSINCE", date(2024, 3, 1)),
             K("FROM", "a"), K("SINCE", date(2024, 3, 1)), K("UNSEEN")]
    wide = OR(AND(*(mixed[n % len(mixed)] for n in range(plain))),
              AND(*(NOT(mixed[n % len(mixed)]) for n in range(plain // 2))))
    assert folder(wide) == [3]  # odd UID, $Work, sent and received since March, unseen
    deep = K("UID", fragmented)
    for level in range(store_search.MAX_DEPTH - 2):  # even, all, none, odd, even, ...
        deep = OR(deep, K("UID", fragmented)) if level % 2 else NOT(deep)
    assert folder(deep) == [1, 2, 3, 4, 5]
    with pytest.raises(ValueError):
        folder(AND(*(K("SEEN") for _ in range(store_search.MAX_KEYS))))
