"""Search bench: Store.search on a 100,000-message folder, beside Dovecot's search of the same maildir.

    python bench/search_bench.py [--folder-size N] [--database-url URL] [--no-peer]

The folder is seeded directly (as store_bench does): small real files written into `cur/` with
their flags in the file name and the internal date as mtime, and index rows bulk-inserted. Ten
senders take turns (alice is every tenth message), two messages in three are \\Seen, one in
twenty \\Flagged, internal and sent dates spread over a year in zones from -12:00 to +14:00,
and one message in a hundred has the word "needle" in its body.

Timed (median of several runs unless said): index-only programs (one SQL query), header keys
(the cached header blocks of the candidates), and BODY (the files of the candidates; the full
BODY search runs once). The peer is `doveadm search` on the same maildir with a private
configuration, after one untimed run that builds Dovecot's index; its figure includes starting
the doveadm process (timed alone as `doveadm search ... UID 1`).
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

from sqlalchemy import insert, update

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from store_bench import add_account, drop_schema, open_database, timed  # noqa: E402

from mfserver.db import Database, migrate  # noqa: E402
from mfserver.db.models import Account, Folder, Message, MessageHeader  # noqa: E402
from mfserver.store import Store, flags, maildir  # noqa: E402
from mfserver.store.mime import parse_message  # noqa: E402
from mfserver.store.query import SearchKey  # noqa: E402

SEED_CHUNK = 10_000
SENDERS = ["Alice Example <alice@example.org>", "Bob <bob@example.net>",
           "Carol <carol@example.com>", "Dan <dan@example.org>", "Erin <erin@example.de>",
           "Frank <frank@example.fr>", "Grace <grace@example.org>", "Heidi <heidi@example.ch>",
           "Ivan <ivan@example.ru>", "Judy <judy@example.jp>"]
SINCE = date(2024, 6, 1)


def message(number: int, sent: datetime) -> bytes:
    sender = SENDERS[number % len(SENDERS)]
    word = "needle" if number % 100 == 0 else "hay"
    header = (f"From: {sender}\r\nTo: Bob <bob@example.org>\r\nSubject: bench {number}\r\n"
              f"Date: {format_datetime(sent)}\r\nMessage-ID: <{number}@bench.example>\r\n"
              f"\r\n").encode()
    line = b"lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor\r\n"
    return header + line * 8 + f"a {word} in the haystack\r\n".encode() + line * 4


def seed(store: Store, database: Database, account: int, name: str, size: int) -> int:
    folder = store.create_folder(account, name)
    path = store.account_root(account) / maildir.folder_directory(name)
    rng = random.Random(5032)
    start = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
    total = 0
    for first in range(1, size + 1, SEED_CHUNK):
        rows, blocks = [], []
        for uid in range(first, min(first + SEED_CHUNK, size + 1)):
            when = int(start + rng.randrange(365 * 86400))
            tz = rng.randrange(-720, 841, 15)
            sent = datetime.fromtimestamp(when - rng.randrange(3600),
                                          timezone(timedelta(minutes=tz)))
            raw = message(uid, sent)
            parsed = parse_message(raw)
            bits = (flags.SEEN if uid % 3 else 0) | (flags.FLAGGED if uid % 20 == 0 else 0)
            key = f"{int(start)}.M{uid}P0Q0.bench,S={len(raw)}"
            filename = maildir.filename_for(key, bits)
            file = path / filename
            file.write_bytes(raw)
            os.utime(file, (when, when))
            total += len(raw)
            rows.append({"folder_id": folder.id, "uid": uid, "key": key, "filename": filename,
                         "flags": bits, "keywords": "", "internal_date": when,
                         "internal_tz": tz, "sent_date": int(parsed.sent_date.timestamp()),
                         "size": parsed.size, "bare_lf": False, "modseq": 1,
                         "envelope": json.dumps(parsed.envelope, separators=(",", ":")),
                         "bodystructure": json.dumps(parsed.bodystructure,
                                                     separators=(",", ":"))})
            blocks.append(parsed.header)
        with database.write() as session:
            ids = [row.id for row in session.execute(
                insert(Message.__table__).returning(Message.__table__.c.id,
                                                    sort_by_parameter_order=True), rows)]
            session.execute(insert(MessageHeader.__table__),
                            [{"message_id": i, "header": b} for i, b in zip(ids, blocks,
                                                                            strict=True)])
    with database.write() as session:
        session.execute(update(Folder.__table__).where(Folder.__table__.c.id == folder.id)
                        .values(uidnext=size + 1, highestmodseq=2))
        session.execute(update(Account.__table__).where(Account.__table__.c.id == account)
                        .values(used_bytes=Account.__table__.c.used_bytes + total))
    return folder.id


def K(name: str, value=None, *children: SearchKey) -> SearchKey:
    return SearchKey(name, value, tuple(children))


PROGRAMS = [  # label, program, doveadm query, repeats
    ("UNSEEN", K("UNSEEN"), ["UNSEEN"], 5),
    ("FLAGGED SINCE 1-Jun-2024", K("AND", None, K("FLAGGED"), K("SINCE", SINCE)),
     ["FLAGGED", "SINCE", "1-Jun-2024"], 5),
    ("SINCE 1-Jun-2024 LARGER 900", K("AND", None, K("SINCE", SINCE), K("LARGER", 900)),
     ["SINCE", "1-Jun-2024", "LARGER", "900"], 5),
    ("FROM alice", K("FROM", "alice"), ["FROM", "alice"], 3),
    ("UNSEEN FROM alice", K("AND", None, K("UNSEEN"), K("FROM", "alice")),
     ["UNSEEN", "FROM", "alice"], 3),
    ("SENTON 1-Jun-2024", K("SENTON", SINCE), ["SENTON", "1-Jun-2024"], 3),
    ("OR FLAGGED FROM alice", K("OR", None, K("FLAGGED"), K("FROM", "alice")),
     ["(", "FLAGGED", "OR", "FROM", "alice", ")"], 3),  # doveadm's infix OR
    ("UNSEEN BODY needle", K("AND", None, K("UNSEEN"), K("BODY", "needle")),
     ["UNSEEN", "BODY", "needle"], 1),
    ("BODY needle", K("BODY", "needle"), ["BODY", "needle"], 1),
]


class Doveadm:
    """`doveadm search` with a private configuration on the bench's maildir. Dovecot refuses
    mail access as root: it runs as `nobody`, which gets the maildir tree (read-only use: its
    index and control files go to its own directory)."""

    def __init__(self, workdir: Path, maildir_root: Path) -> None:
        user = pwd.getpwnam("nobody")
        self.home = workdir / "dovecot"
        (self.home / "home").mkdir(parents=True)
        self.config = self.home / "dovecot.conf"
        self.config.write_text(
            f"base_dir = {self.home}/run\nstate_dir = {self.home}/state\n"
            f"log_path = {self.home}/log\nssl = no\nprotocols =\n"
            f"first_valid_uid = {user.pw_uid}\nfirst_valid_gid = {user.pw_gid}\n"
            f"mail_uid = {user.pw_uid}\nmail_gid = {user.pw_gid}\n"
            f"mail_location = maildir:{maildir_root}:INDEX={self.home}/index"
            f":CONTROL={self.home}/control\n")
        workdir.chmod(0o755)
        for tree in (self.home, maildir_root.parent):
            for directory, _, files in os.walk(tree):
                os.chown(directory, user.pw_uid, user.pw_gid)
                for name in files:
                    os.chown(os.path.join(directory, name), user.pw_uid, user.pw_gid)
        self.env = {**os.environ, "USER": "bench", "HOME": str(self.home / "home")}

    def search(self, query: list[str], mailbox: str = "Big") -> int:
        out = subprocess.run(["doveadm", "-c", str(self.config), "search", "mailbox", mailbox,
                              *query], check=True, capture_output=True, env=self.env)
        return len(out.stdout.splitlines())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder-size", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--no-peer", action="store_true", help="do not run doveadm")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="search-bench-") as workdir_name:
        workdir = Path(workdir_name)
        database, schema = open_database(args.database_url, workdir)
        try:
            migrate.upgrade(database)
            store = Store(database, workdir / "mail")
            account = add_account(database)
            store.provision(account)
            backend = "PostgreSQL" if schema else "SQLite"
            started = time.perf_counter()
            folder = seed(store, database, account, "Big", args.folder_size)
            print(f"search bench: {backend}, folder of {args.folder_size:,} messages "
                  f"(seeded in {time.perf_counter() - started:.1f} s)")
            peer = None
            if not args.no_peer and shutil.which("doveadm") and os.geteuid() == 0:
                peer = Doveadm(workdir, store.account_root(account))
                started = time.perf_counter()
                peer.search(["ALL"])
                print(f"dovecot: first search (builds its index) {time.perf_counter() - started:.1f} s")
                start_cost, _ = timed(lambda: peer.search(["UID", "1"]), repeat=3)
                print(f"dovecot: doveadm start + trivial search {start_cost * 1000:.0f} ms")

            listing, _ = timed(lambda: store.messages(account, folder), repeat=3)
            print(f"{'(messages() listing, for scale)':34} {listing * 1000:8.0f} ms")
            print(f"{'program':34} {'matches':>8} {'mfserver':>10} {'dovecot':>10}")
            for label, program, query, repeat in PROGRAMS:
                found: list[int] = []

                def run(program: SearchKey = program, found: list[int] = found) -> None:
                    found[:] = store.search(account, folder, program)

                median, _ = timed(run, repeat=repeat)
                theirs = ""
                if peer is not None:
                    count: list[int] = []
                    peer_median, _ = timed(lambda q=query, c=count: c.append(peer.search(q)),
                                           repeat=repeat)
                    theirs = f"{peer_median * 1000:8.0f} ms"
                    if count[-1] != len(found):
                        theirs += f" ({count[-1]:,} matches*)"
                print(f"{label:34} {len(found):8,} {median * 1000:7.0f} ms {theirs:>10}")
            if peer is not None:
                print("* Dovecot compares an internal date (a maildir file's mtime) with midnight "
                      "in the server's zone;\n  mfserver with midnight in the zone the message "
                      "was received in, so messages near midnight differ.")
        finally:
            database.dispose()
            if schema:
                drop_schema(args.database_url, schema)
    return 0


if __name__ == "__main__":
    sys.exit(main())
