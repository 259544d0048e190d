"""Store bench: durable deliveries per second, and the cost of opening a 100,000-message folder.

    python bench/store_bench.py [--messages N] [--folder-size N] [--database-url URL]

Deliveries: N messages of 4 KB into one folder through `Store.deliver` (tmp/ + fsync, one
transaction, rename into new/ + directory fsync, commit), from 1 thread and from 4 threads.
The peer, run in the same process on the same disk, is a bare maildir delivery with the same
fsyncs and no index (what the aiosmtpd peer of PEERS.md does); the ratio is what the index
costs.

Opening a folder: what IMAP SELECT needs, `status()` plus `messages()` (uid, flags, keywords,
modseq of every message) from the index. The folder is seeded directly: 100,000 small real
files written into `cur/` without fsync, and their index rows (one parsed message's envelope and
bodystructure reused) bulk-inserted with executemany in 10,000-row transactions. The peer is
a bare `os.listdir` of that `cur/` — the least a server without an index has to do. Also timed:
a rescan that finds nothing to do (a listing plus one index read), and STORE +FLAGS \\Seen on
every message (one transaction, one MODSEQ).

With --database-url postgresql://..., a temporary schema is made there and dropped afterwards;
the default is an SQLite file in a temporary directory (synchronous=FULL, WAL).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, insert, text, update

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mfserver.db import Database, make_engine, migrate  # noqa: E402
from mfserver.db.models import Account, Folder, Message, MessageHeader  # noqa: E402
from mfserver.store import FlagMode, Store, flags, maildir  # noqa: E402
from mfserver.store.mime import parse_message  # noqa: E402

SEED_CHUNK = 10_000


def message(number: int, size: int = 4096) -> bytes:
    header = (f"From: Alice <alice@example.org>\r\nTo: Bob <bob@example.org>\r\n"
              f"Subject: bench {number}\r\nDate: Mon, 02 Jan 2023 10:00:00 +0100\r\n"
              f"Message-ID: <{number}.{uuid.uuid4().hex}@example.org>\r\n\r\n").encode()
    line = b"x" * 76 + b"\r\n"
    body = line * ((size - len(header)) // len(line))
    return header + body


def open_database(url: str | None, workdir: Path) -> tuple[Database, str | None]:
    if not url:
        return Database(f"sqlite:///{workdir / 'bench.sqlite3'}"), None
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    return Database(url, engine=engine), schema


def drop_schema(url: str, schema: str) -> None:
    admin = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def add_account(database: Database) -> int:
    with database.write() as session:
        return session.execute(insert(Account.__table__).values(
            username="bench", display_name="", password_hash="x", quota_bytes=0, used_bytes=0,
            disabled=False, maildir="bench", totp_enabled=False, created_at=0)
            .returning(Account.__table__.c.id)).scalar_one()


# -- deliveries --------------------------------------------------------------------------------

def bare_maildir(path: Path, count: int) -> float:
    maildir.make_maildir(path)
    payloads = [message(n) for n in range(count)]
    start = time.perf_counter()
    for data in payloads:
        key, tmp = maildir.write_tmp(path, data)
        os.rename(tmp, path / "new" / key)
        maildir.fsync_directory(path / "new")
    return count / (time.perf_counter() - start)


def store_deliveries(store: Store, account: int, folder: str, count: int, threads: int) -> float:
    payloads = [message(n) for n in range(count)]
    share = [payloads[n::threads] for n in range(threads)]
    barrier = threading.Barrier(threads + 1)

    def run(mine: list[bytes]) -> None:
        barrier.wait()
        for data in mine:
            store.deliver(account, data, folder=folder)

    workers = [threading.Thread(target=run, args=(mine,)) for mine in share]
    for worker in workers:
        worker.start()
    barrier.wait()
    start = time.perf_counter()
    for worker in workers:
        worker.join()
    return count / (time.perf_counter() - start)


# -- a big folder ------------------------------------------------------------------------------

def seed_folder(store: Store, database: Database, account: int, name: str, size: int) -> int:
    folder = store.create_folder(account, name)
    path = store.account_root(account) / maildir.folder_directory(name)
    sample = message(0, 1200)
    parsed = parse_message(sample)
    envelope = json.dumps(parsed.envelope, separators=(",", ":"))
    structure = json.dumps(parsed.bodystructure, separators=(",", ":"))
    now = int(time.time())
    for first in range(1, size + 1, SEED_CHUNK):
        rows = []
        for uid in range(first, min(first + SEED_CHUNK, size + 1)):
            key = f"{now}.M{uid}P0Q0.bench,S={len(sample)}"
            filename = maildir.filename_for(key, flags.SEEN if uid % 3 else 0)
            with open(path / filename, "wb") as handle:
                handle.write(sample)
            rows.append({"folder_id": folder.id, "uid": uid, "key": key,
                         "filename": filename, "flags": flags.SEEN if uid % 3 else 0,
                         "keywords": "$Bench" if uid % 10 == 0 else "",
                         "internal_date": now, "internal_tz": 0, "sent_date": now,
                         "size": len(sample), "bare_lf": False, "modseq": 1,
                         "envelope": envelope, "bodystructure": structure})
        with database.write() as session:
            ids = [row.id for row in session.execute(
                insert(Message.__table__).returning(Message.__table__.c.id,
                                                    sort_by_parameter_order=True), rows)]
            session.execute(insert(MessageHeader.__table__),
                            [{"message_id": i, "header": parsed.header} for i in ids])
    with database.write() as session:
        session.execute(update(Folder.__table__).where(Folder.__table__.c.id == folder.id)
                        .values(uidnext=size + 1, highestmodseq=2))
        session.execute(update(Account.__table__).where(Account.__table__.c.id == account)
                        .values(used_bytes=Account.__table__.c.used_bytes + size * len(sample)))
    return folder.id


def timed(function, repeat: int = 5) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000, help="deliveries per run")
    parser.add_argument("--folder-size", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="store-bench-") as workdir_name:
        workdir = Path(workdir_name)
        database, schema = open_database(args.database_url, workdir)
        try:
            migrate.upgrade(database)
            store = Store(database, workdir / "mail")
            account = add_account(database)
            store.provision(account)
            backend = "PostgreSQL" if schema else "SQLite"
            print(f"store bench: {backend}, {args.messages} messages of 4 KB, "
                  f"folder of {args.folder_size:,}")

            peer = bare_maildir(workdir / "peer", args.messages)
            one = store_deliveries(store, account, "INBOX", args.messages, 1)
            store.create_folder(account, "Four")
            four = store_deliveries(store, account, "Four", args.messages, 4)
            print(f"deliveries/s  bare maildir (peer, 1 thread): {peer:8.0f}")
            print(f"deliveries/s  Store.deliver, 1 thread:       {one:8.0f}   "
                  f"ratio {one / peer:.2f} of peer")
            print(f"deliveries/s  Store.deliver, 4 threads:      {four:8.0f}   "
                  f"ratio {four / peer:.2f} of peer")

            start = time.perf_counter()
            folder_id = seed_folder(store, database, account, "Big", args.folder_size)
            print(f"seeded {args.folder_size:,} messages in {time.perf_counter() - start:.1f} s")
            big = store.account_root(account) / ".Big" / "cur"

            def select_folder() -> None:
                status = store.status(account, "Big")
                listing = store.messages(account, folder_id)
                assert status.messages == len(listing) == args.folder_size

            median, best = timed(select_folder)
            peer_median, peer_best = timed(lambda: os.listdir(big))
            print(f"open folder   status + messages() from index: median {median * 1000:7.0f} ms"
                  f"  (best {best * 1000:.0f} ms)")
            print(f"open folder   os.listdir of cur/ (peer):      median "
                  f"{peer_median * 1000:7.0f} ms  (best {peer_best * 1000:.0f} ms)")
            status_median, _ = timed(lambda: store.status(account, "Big"))
            print(f"status only   (SQL aggregates):               median "
                  f"{status_median * 1000:7.0f} ms")
            rescan_median, _ = timed(lambda: store.rescan(account), repeat=3)
            print(f"rescan        nothing to do (whole account):  median "
                  f"{rescan_median * 1000:7.0f} ms")
            start = time.perf_counter()
            result = store.store_flags(account, folder_id, None, FlagMode.ADD, flags.SEEN)
            print(f"STORE 1:* +FLAGS \\Seen ({len(result.changed):,} changed):   "
                  f"{(time.perf_counter() - start) * 1000:7.0f} ms")
        finally:
            database.dispose()
            if schema:
                drop_schema(args.database_url, schema)
    return 0


if __name__ == "__main__":
    sys.exit(main())
