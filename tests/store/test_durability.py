"""A delivering process killed with SIGKILL at random moments loses nothing it acknowledged
and never leaves a partial file in new/ or cur/."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time

from sqlalchemy import func, select

from mfserver.db.models import Message
from mfserver.store import Store
from tests.store.samples import is_intact
from tests.store.test_delivery import REPO, database_spec, used_bytes

ROUNDS = 6


def test_sigkill_loses_no_acknowledged_message(database, mail_root, account):
    url, schema = database_spec(database)
    rng = random.Random()
    acked: dict[int, str] = {}
    for _ in range(ROUNDS):
        worker = subprocess.Popen(
            [sys.executable, "-m", "tests.store.worker", url, schema, str(mail_root),
             str(account), "0"], cwd=REPO, stdout=subprocess.PIPE)
        assert worker.stdout.readline().strip() == b"READY"
        time.sleep(rng.uniform(0.02, 0.4))
        os.kill(worker.pid, signal.SIGKILL)
        out = worker.stdout.read()
        worker.wait()
        for line in out.split(b"\n")[:-1]:  # the last piece may be a cut line
            word, uid, digest = line.decode().split()
            assert word == "ACK" and int(uid) not in acked
            acked[int(uid)] = digest
    assert len(acked) >= ROUNDS  # the worker got some deliveries done in each round

    store = Store(database, mail_root)
    rescanned = store.rescan(account)
    print(f"acked {len(acked)}, indexed by rescan {len(rescanned.added)}")
    inbox = store.get_folder(account, "INBOX")
    for uid, digest in acked.items():
        assert hashlib.sha256(store.read_message(account, inbox.id, uid)).hexdigest() == digest
    root = store.account_root(account)
    for sub in ("new", "cur"):
        for name in os.listdir(root / sub):
            assert is_intact((root / sub / name).read_bytes()), name
    indexed = store.messages(account, inbox.id)
    on_disk = len(os.listdir(root / "new")) + len(os.listdir(root / "cur"))
    assert len(indexed) == on_disk >= len(acked)
    with database.read() as session:
        total = session.execute(select(func.sum(Message.size))).scalar_one()
    assert used_bytes(database, account) == total
