"""A separate process that delivers messages, for the multi-process and SIGKILL tests.

    python -m tests.store.worker URL SCHEMA MAIL_ROOT ACCOUNT_ID COUNT [--wait-for FILE]

SCHEMA is '-' for SQLite. Prints "READY" once the store is open, then "ACK <uid> <sha256>" after
each deliver() returns (COUNT 0: forever).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import sys
import time

from mfserver.db import Database, make_engine
from mfserver.store import Store
from tests.store.samples import make_message


def open_database(url: str, schema: str) -> Database:
    if schema == "-":
        return Database(url)
    engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    return Database(url, engine=engine)


def main(argv: list[str]) -> int:
    url, schema, mail_root, account_id, count = argv[:5]
    wait_for = argv[argv.index("--wait-for") + 1] if "--wait-for" in argv else None
    store = Store(open_database(url, schema), mail_root)
    print("READY", flush=True)
    if wait_for:
        while not os.path.exists(wait_for):
            time.sleep(0.005)
    numbers = itertools.count() if int(count) == 0 else range(int(count))
    for number in numbers:
        raw = make_message(number, size=2000 + number % 7 * 1500)
        delivered = store.deliver(int(account_id), raw)
        print(f"ACK {delivered.uid} {hashlib.sha256(raw).hexdigest()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
