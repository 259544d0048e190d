"""IMAP bench: N concurrent Thunderbird-like clients against mfserver and Dovecot, same messages.

    apt-get install -y dovecot-imapd        # the peer; the bench installs nothing itself
    python bench/imap_bench.py [--sizes 10000[,100000]] [--clients 10] [--duration 30]
                               [--mix select=1,flags=1,...] [--tls] [--database-url URL]
                               [--no-peer] [--profile DIR]

For each folder size, the same load runs against mfserver and then against Dovecot, and the bench
prints per operation the count, the 50th and 99th percentile latency of both, total operations
per second, and the ratios mfserver/Dovecot. Run by hand as root (Dovecot's master needs it);
without root or without `dovecot` only mfserver is measured. The defaults take about two
minutes on 2 cores; `--sizes 10000,100000` adds the big folder (about five more minutes).

The servers:
- mfserver: `twistd -ny mfserver.tac` (tests.harness) on a temporary data directory, free ports
  on 127.0.0.1, its default SQLite index (or `--database-url postgresql://...`: a temporary
  database is created there and dropped afterwards), `allow_plaintext_login = true`.
- Dovecot 2.3 (Debian's dovecot-imapd): a private instance as PEERS.md describes it, in its
  documented performance mode (one long-lived imap-login process, imap processes reused),
  maildir mail as user `nobody`, `{PLAIN}` passwd-file, `disable_plaintext_auth = no`.
- Both plaintext IMAP on loopback by default; with `--tls` both implicit TLS (port 993 style)
  with the same self-signed certificate.

Seeding (not timed): every message is generated once and written to both. mfserver: the file
goes where `Store.deliver` puts it (new/ unseen, cur/KEY:2,FLAGS otherwise, mtime = internal
date) and its index row is the real `parse_message` result (envelope, bodystructure, header
block), bulk-inserted 5,000 rows per transaction before the server starts (what deliver would
store, without its per-message fsyncs). Dovecot: the same bytes in cur/ with the flags in the
name and `,S=,W=` sizes as its own delivery writes them; Dovecot indexes them on the first
SELECT, which an untimed warm-up pass does for both servers (its time is printed).

The load: every client logs in, selects the folder, then runs operations back to back (no think
time) until the duration is over, each drawn at random by weight from the mix (client i uses
random seed i, so both servers see the same sequence of operations per client):
  select   SELECT the folder again (a folder switch)
  flags    UID FETCH 1:* (FLAGS)                               (Thunderbird's flag resync)
  headers  FETCH of the newest 500: UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (...)] with
           Thunderbird's header list
  unseen   UID SEARCH UNSEEN
  store    UID STORE <random uid> +FLAGS (\\Seen), or -FLAGS one time in three
  append   APPEND of a new 1-6 KB message to the folder (LITERAL+), so others see EXISTS
  idle     IDLE, wait for "+", DONE, wait for OK
  body     UID FETCH <random uid> (UID RFC822.SIZE BODY.PEEK[])  (reading a message)
Besides the N clients, a watcher IDLEs on a small folder into which a notifier APPENDs every
0.5 s: "new-mail notice" is the time from the APPEND being sent to the watcher's EXISTS.
Dovecot waits 500 ms after a change before it tells an idling client (NOTIFY_DELAY_MSECS in
its mailbox-watch.c, to batch changes), so its figure is about 0.5 s by design.

CPU, in cores over each phase: the server's processes (twistd; Dovecot's master and its
children), the bench's own (the clients: they share the 2 cores, and keep up with Dovecot only
at about a third of a core), and the rest of the machine (other work that disturbs the run;
figures with "others" near a core are noisy). With `--profile DIR`, `py-spy record` (pip install py-spy)
samples the twistd process during each mfserver phase into DIR: raw collapsed stacks of the
thread holding the GIL (mfserver is bound by it), which slows the server down a little.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pwd
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from random import Random

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, insert, text, update  # noqa: E402

from mfserver.config import load_settings  # noqa: E402
from mfserver.db.models import Account, Folder, Message, MessageHeader  # noqa: E402
from mfserver.runtime import open_runtime  # noqa: E402
from mfserver.store import flags, maildir  # noqa: E402
from mfserver.store.mime import parse_message  # noqa: E402
from mfserver.tls import ensure_certificate  # noqa: E402
from tests.harness import Server, cli, free_port, write_config  # noqa: E402

USER, DOMAIN, PASSWORD = "bench", "example.org", "bench password 1"
NOTICES = "Notices"
SEED_CHUNK = 5_000
START = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())
SPACING = 300  # seconds between two seeded messages' dates
DEFAULT_MIX = "select=1,flags=1,headers=1,unseen=2,store=4,append=1,idle=3,body=3"
THUNDERBIRD_HEADERS = (b"From To Cc Bcc Subject Date Message-ID Priority X-Priority References "
                       b"Newsgroups In-Reply-To Content-Type Reply-To")
SENDERS = ["Alice Example <alice@example.org>", "Bob <bob@example.net>",
           "=?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <jm@example.de>", "Carol <carol@example.com>",
           "Dan <dan@example.org>", "Erin <erin@example.fr>", "list@lists.example.org",
           "Frank <frank@example.ch>", "Grace <grace@example.org>", "Heidi <heidi@example.jp>"]
TOPICS = ["Meeting notes", "Re: invoice", "Weekly report", "Lunch?", "Build failed",
          "Your order has shipped", "Fwd: photos", "Question about the API", "Newsletter",
          "Re: Re: plans for the weekend"]
WORDS = ("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "
         "incididunt ut labore et dolore magna aliqua enim ad minim veniam quis nostrud").split()


# -- the messages --------------------------------------------------------------------------------

def make_message(number: int, when: int) -> bytes:
    """A deterministic 1-6 KB message; one in five multipart/alternative, one in four a reply."""
    rng = Random(number)
    sent = format_datetime(datetime.fromtimestamp(when - rng.randrange(600), UTC))
    lines = [f"From: {SENDERS[number % len(SENDERS)]}", "To: Bench <bench@example.org>",
             f"Subject: {TOPICS[rng.randrange(len(TOPICS))]} #{number}", f"Date: {sent}",
             f"Message-ID: <{number}@bench.example>", "MIME-Version: 1.0"]
    if number % 4 == 0 and number > 1:
        lines += [f"In-Reply-To: <{number - 1}@bench.example>",
                  f"References: <{number - 2}@bench.example> <{number - 1}@bench.example>"]
    text_body = "\r\n".join(" ".join(rng.choices(WORDS, k=12)) for _ in
                            range(rng.randrange(10, 70)))
    if number % 5 == 0:
        boundary = f"b{number}"
        lines.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
        body = (f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text_body}\r\n"
                f"--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>"
                f"{text_body[:800]}</p>\r\n--{boundary}--\r\n")
    else:
        lines.append("Content-Type: text/plain; charset=utf-8")
        body = text_body + "\r\n"
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def seeded_bits(uid: int) -> int:
    """Two messages in three \\Seen, one in twenty \\Flagged."""
    return (flags.SEEN if uid % 3 else 0) | (flags.FLAGGED if uid % 20 == 0 else 0)


def seed(runtime: object, account_id: int, name: str, size: int,
         peer_folder: Path | None) -> None:
    """Write `size` messages into mfserver's folder `name` (files and parsed index rows) and,
    when `peer_folder` is given, the same bytes into that Dovecot maildir folder."""
    store, database = runtime.store, runtime.database  # type: ignore[attr-defined]
    folder = store.create_folder(account_id, name)
    path = store.account_root(account_id) / maildir.folder_directory(name)
    if peer_folder is not None:
        for sub in ("cur", "new", "tmp"):
            (peer_folder / sub).mkdir(parents=True, exist_ok=True)
    total = 0
    for first in range(1, size + 1, SEED_CHUNK):
        rows, blocks = [], []
        for uid in range(first, min(first + SEED_CHUNK, size + 1)):
            when = START + uid * SPACING
            raw = make_message(uid, when)
            bits = seeded_bits(uid)
            key = f"{START}.M{uid:07d}P1Q0.bench,S={len(raw)}"
            filename = maildir.filename_for(key, bits)
            for target in [path / filename] + ([peer_folder / "cur" /
                                                f"{key},W={len(raw)}:2,"
                                                f"{flags.to_maildir_info(bits)}"]
                                               if peer_folder is not None else []):
                target.write_bytes(raw)
                os.utime(target, (when, when))
            parsed = parse_message(raw)
            total += parsed.size
            row = {"folder_id": folder.id, "uid": uid, "key": key, "filename": filename,
                   "flags": bits, "keywords": "", "internal_date": when, "internal_tz": 0,
                   "sent_date": int(parsed.sent_date.timestamp()) if parsed.sent_date else None,
                   "size": parsed.size, "bare_lf": False, "modseq": 1,
                   "envelope": _json(parsed.envelope), "bodystructure": _json(
                       parsed.bodystructure)}
            rows.append(row)
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
        session.execute(update(Account.__table__).where(Account.__table__.c.id == account_id)
                        .values(used_bytes=Account.__table__.c.used_bytes + total))


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


# -- a small IMAP client ---------------------------------------------------------------------

class IMAPError(Exception):
    pass


class Client:
    """One connection: a command, then read up to its tagged reply, skipping literals; the
    bench only looks at the reply's status and EXISTS, so it stays cheap for 100,000 lines."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.buffer = bytearray()
        self.counter = 0
        self.exists = 0

    @classmethod
    async def open(cls, port: int, context: ssl.SSLContext | None) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context,
                                                       limit=1 << 20)
        client = cls(reader, writer)
        await client.until(re.compile(rb"\n\* [^\r\n]*\r\n"))  # the greeting
        return client

    async def _fill(self) -> None:
        chunk = await self.reader.read(1 << 18)
        if not chunk:
            raise IMAPError("connection closed")
        self.buffer += chunk

    async def until(self, pattern: re.Pattern[bytes]) -> tuple[bytes, tuple[bytes, ...]]:
        """Read up to the first match of `pattern` outside literals (the buffer is seen with a
        "\\n" in front, so a pattern can anchor a line start with "\\n")."""
        literal = re.compile(rb"\{(\d+)\+?\}\r\n")
        data = self.buffer
        data[0:0] = b"\n"
        pos = 0
        while True:
            found = pattern.search(data, pos)
            announced = literal.search(data, pos, found.start() if found else len(data))
            if announced is not None:
                pos = announced.end() + int(announced.group(1))
                while len(data) < pos:
                    await self._fill()
                    data = self.buffer
                continue
            if found is not None:
                reply, groups = bytes(data[1:found.end()]), tuple(map(bytes, found.groups()))
                del data[:found.end()]  # after reading the groups: they are views of `data`
                return reply, groups
            pos = max(pos, len(data) - 4096)
            await self._fill()
            data = self.buffer

    async def command(self, line: bytes, literal: bytes | None = None) -> bytes:
        self.counter += 1
        tag = b"b%d" % self.counter
        if literal is None:
            self.writer.write(tag + b" " + line + b"\r\n")
        else:
            self.writer.write(tag + b" " + line + b" {%d+}\r\n" % len(literal) + literal
                              + b"\r\n")
        reply, (status,) = await self.until(re.compile(rb"\n" + tag + rb" (\w+)[^\r\n]*\r\n"))
        if status != b"OK":
            raise IMAPError(reply[-300:].decode(errors="replace").strip())
        at = reply.rfind(b" EXISTS\r\n")
        if at > 0:
            self.exists = int(reply[reply.rfind(b"* ", 0, at) + 2:at])
        return reply

    async def idle_cycle(self) -> None:
        self.counter += 1
        tag = b"b%d" % self.counter
        self.writer.write(tag + b" IDLE\r\n")
        await self.until(re.compile(rb"\n\+[^\r\n]*\r\n"))
        self.writer.write(b"DONE\r\n")
        reply, (status,) = await self.until(re.compile(rb"\n" + tag + rb" (\w+)[^\r\n]*\r\n"))
        if status != b"OK":
            raise IMAPError(reply[-300:].decode(errors="replace").strip())

    async def login(self) -> None:
        await self.command(f'LOGIN {USER} "{PASSWORD}"'.encode())

    def close(self) -> None:
        self.writer.close()


# -- the load ----------------------------------------------------------------------------------

@dataclass
class Target:
    name: str
    port: int
    context: ssl.SSLContext | None
    processes: object = None  # () -> the server's process ids, for its CPU time


@dataclass
class Phase:
    """What one load phase measured."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    first_error: dict[str, str] = field(default_factory=dict)
    notices: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    busy_cores: float = 0.0    # the whole machine
    server_cores: float = 0.0
    client_cores: float = 0.0  # this process

    @property
    def operations(self) -> int:
        return sum(len(values) for values in self.latencies.values())


class Load:
    def __init__(self, folder: str, size: int, mix: dict[str, float]) -> None:
        self.folder = folder.encode()
        self.size = size
        self.mix = mix

    async def select(self, client: Client, rng: Random) -> None:
        await client.command(b'SELECT "' + self.folder + b'"')

    async def flags(self, client: Client, rng: Random) -> None:
        await client.command(b"UID FETCH 1:* (FLAGS)")

    async def headers(self, client: Client, rng: Random) -> None:
        first = max(1, client.exists - 499)
        await client.command(b"FETCH %d:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (%s)])"
                             % (first, THUNDERBIRD_HEADERS))

    async def unseen(self, client: Client, rng: Random) -> None:
        await client.command(b"UID SEARCH UNSEEN")

    async def store(self, client: Client, rng: Random) -> None:
        sign = b"-" if rng.randrange(3) == 0 else b"+"
        await client.command(b"UID STORE %d %sFLAGS (\\Seen)" % (rng.randint(1, self.size), sign))

    async def append(self, client: Client, rng: Random) -> None:
        number = rng.randrange(10_000_000, 1_000_000_000)
        await client.command(b'APPEND "' + self.folder + b'"',
                             make_message(number, int(time.time())))

    async def idle(self, client: Client, rng: Random) -> None:
        await client.idle_cycle()

    async def body(self, client: Client, rng: Random) -> None:
        await client.command(b"UID FETCH %d (UID RFC822.SIZE BODY.PEEK[])"
                             % rng.randint(1, self.size))

    async def run(self, target: Target, clients: int, duration: float) -> Phase:
        phase = Phase()
        connections = []
        for _ in range(clients):
            client = await Client.open(target.port, target.context)
            await client.login()
            await client.command(b'SELECT "' + self.folder + b'"')
            connections.append(client)
        names = list(self.mix)
        weights = [self.mix[name] for name in names]
        stop = asyncio.Event()
        watching = asyncio.ensure_future(self._notices(target, phase, stop))
        await asyncio.sleep(0.5)  # the watcher is idling
        cpu_before, own_before = _busy_jiffies(), time.process_time()
        server_before = _process_jiffies(target.processes())
        start = time.perf_counter()
        deadline = start + duration

        async def work(number: int, client: Client) -> None:
            rng = Random(number)
            while time.perf_counter() < deadline:
                name = rng.choices(names, weights)[0]
                began = time.perf_counter()
                try:
                    await getattr(self, name)(client, rng)
                except IMAPError as error:
                    phase.errors[name] += 1
                    phase.first_error.setdefault(name, str(error))
                    continue
                phase.latencies[name].append(time.perf_counter() - began)

        await asyncio.gather(*(work(number, client)
                               for number, client in enumerate(connections)))
        phase.elapsed = time.perf_counter() - start
        ticks = os.sysconf("SC_CLK_TCK")
        phase.busy_cores = (_busy_jiffies() - cpu_before) / ticks / phase.elapsed
        phase.server_cores = (_process_jiffies(target.processes()) - server_before) / ticks \
            / phase.elapsed
        phase.client_cores = (time.process_time() - own_before) / phase.elapsed
        stop.set()
        await watching
        for client in connections:
            client.close()
        return phase

    async def _notices(self, target: Target, phase: Phase, stop: asyncio.Event) -> None:
        """A watcher IDLEs on NOTICES; a notifier appends there every 0.5 s."""
        watcher = await Client.open(target.port, target.context)
        notifier = await Client.open(target.port, target.context)
        await watcher.login()
        await notifier.login()
        await watcher.command(b'SELECT "' + NOTICES.encode() + b'"')
        known = watcher.exists
        watcher.counter += 1
        tag = b"b%d" % watcher.counter
        watcher.writer.write(tag + b" IDLE\r\n")
        await watcher.until(re.compile(rb"\n\+[^\r\n]*\r\n"))
        exists = re.compile(rb"\n\* (\d+) EXISTS\r\n")
        number = 0
        while not stop.is_set():
            number += 1
            sent = time.perf_counter()
            appended = asyncio.ensure_future(notifier.command(
                b'APPEND "' + NOTICES.encode() + b'"', make_message(number, int(time.time()))))
            while True:
                try:
                    _, (count,) = await asyncio.wait_for(watcher.until(exists), 10)
                except TimeoutError:
                    break
                if int(count) > known:
                    known = int(count)
                    phase.notices.append(time.perf_counter() - sent)
                    break
            await appended
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
            except TimeoutError:
                pass
        watcher.writer.write(b"DONE\r\n")
        await watcher.until(re.compile(rb"\n" + tag + rb" [^\r\n]*\r\n"))
        watcher.close()
        notifier.close()


async def warm_up(target: Target, folder: str, load: Load) -> float:
    """One client, untimed: the first SELECT (Dovecot builds its index here), the flags, the
    newest headers, UNSEEN, and one read, so both servers start the timed phase warm."""
    client = await Client.open(target.port, target.context)
    await client.login()
    start = time.perf_counter()
    await client.command(f'SELECT "{folder}"'.encode())
    first = time.perf_counter() - start
    rng = Random(0)
    for name in ("flags", "headers", "unseen", "body"):
        await getattr(load, name)(client, rng)
    client.close()
    return first


def _process_jiffies(pids: list[int]) -> int:
    """User and system time of processes (those that exit meanwhile are not counted)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total


def _children(parent: int) -> list[int]:
    found = [parent]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    if int(handle.read().rsplit(")", 1)[1].split()[1]) == parent:
                        found.append(int(entry))
            except OSError:
                continue
    return found


def _busy_jiffies() -> int:
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    return sum(values) - values[3] - values[4]  # all but idle and iowait


# -- the servers -------------------------------------------------------------------------------

class Mfserver:
    def __init__(self, workdir: Path, database_url: str | None, use_tls: bool) -> None:
        self.data = workdir / "mfserver"
        self.port = free_port()
        listen = {"imaps" if use_tls else "imap": self.port}
        listen["imap" if use_tls else "imaps"] = free_port()
        database = {"url": database_url} if database_url else {}
        self.config = write_config(self.data, ports=listen, auth={"allow_plaintext_login": True},
                                   store={"rescan_interval": 0, "default_quota": 0},
                                   database=database)
        cli("domain", "add", DOMAIN, config=self.config, check=True)
        cli("user", "add", f"{USER}@{DOMAIN}", "--password-stdin", "--quota", "0",
            config=self.config, stdin=PASSWORD, check=True)
        self.runtime = open_runtime(load_settings(self.config, environ={}))
        self.account_id = self.runtime.directory.get_account(USER).id
        self.server: Server | None = None

    def mail_root(self) -> Path:
        return self.runtime.store.account_root(self.account_id)

    def start(self) -> None:
        self.runtime.store.create_folder(self.account_id, NOTICES)
        self.runtime.close()
        self.server = Server(self.config).start(wait_for=self.port)

    @property
    def pid(self) -> int:
        assert self.server is not None and self.server.process is not None
        return self.server.process.pid

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


class Dovecot:
    """A private Dovecot in performance mode (PEERS.md); mail belongs to `nobody`."""

    def __init__(self, workdir: Path, use_tls: bool, certificate: tuple[Path, Path]) -> None:
        self.home = workdir / "dovecot"
        self.mail = self.home / "mail"
        (self.mail / USER).mkdir(parents=True)
        for sub in ("cur", "new", "tmp"):
            (self.mail / USER / sub).mkdir()
        self.port = free_port()
        user = pwd.getpwnam("nobody")
        self.uid, self.gid = user.pw_uid, user.pw_gid
        (self.home / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}:::::\n")
        ssl_settings = (f"ssl = required\nssl_cert = <{certificate[0]}\n"
                        f"ssl_key = <{certificate[1]}\n") if use_tls else "ssl = no\n"
        listener = (f"inet_listener imap {{\n    port = 0\n  }}\n  inet_listener imaps {{\n"
                    f"    port = {self.port}\n    ssl = yes\n  }}") if use_tls else \
            (f"inet_listener imap {{\n    port = {self.port}\n  }}\n  inet_listener imaps {{\n"
             f"    port = 0\n  }}")
        self.config = self.home / "dovecot.conf"
        self.config.write_text(f"""\
base_dir = {self.home}/run
state_dir = {self.home}/state
log_path = {self.home}/log
instance_name = bench-{uuid.uuid4().hex[:8]}
listen = 127.0.0.1
protocols = imap
{ssl_settings}disable_plaintext_auth = no
auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.home}/passwd
}}
userdb {{
  driver = static
  args = uid={self.uid} gid={self.gid} home={self.home}/home/%u
}}
mail_location = maildir:{self.mail}/%u
mail_max_userip_connections = 1000
service imap-login {{
  {listener}
  service_count = 0
  process_min_avail = 2
}}
service imap {{
  service_count = 1000
}}
service auth {{
  client_limit = 2000
}}
""")

    def folder(self, name: str) -> Path:
        return self.mail / USER / maildir.folder_directory(name)

    def start(self) -> None:
        for sub in ("cur", "new", "tmp"):
            (self.folder(NOTICES) / sub).mkdir(parents=True, exist_ok=True)
        (self.home / "home").mkdir(exist_ok=True)
        for directory, _, _files in os.walk(self.home / "home"):
            os.chown(directory, self.uid, self.gid)
        for directory, _, files in os.walk(self.mail):
            os.chown(directory, self.uid, self.gid)
            for name in files:
                os.chown(os.path.join(directory, name), self.uid, self.gid)
        os.chmod(self.home, 0o755)
        os.chmod(self.home.parent, 0o755)  # mkdtemp's 0700 keeps out Dovecot's users
        subprocess.run(["dovecot", "-c", str(self.config)], check=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                import socket
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"dovecot did not listen; see {self.home}/log")

    def pids(self) -> list[int]:
        """The master and its children (imap-login, imap, auth...)."""
        return _children(int((self.home / "run" / "master.pid").read_text()))

    def stop(self) -> None:
        subprocess.run(["dovecot", "-c", str(self.config), "stop"], check=False,
                       capture_output=True)


# -- reporting ---------------------------------------------------------------------------------

def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report(size: int, clients: int, phases: dict[str, Phase], warm: dict[str, float]) -> None:
    ours, theirs = phases["mfserver"], phases.get("dovecot")
    print(f"\n== folder of {size:,} messages, {clients} clients, "
          f"{ours.elapsed:.0f} s per server ==")
    for name, seconds in warm.items():
        print(f"   warm-up {name}: first SELECT {seconds * 1000:.0f} ms")
    head = f"{'operation':10} {'mf n':>6} {'mf p50':>9} {'mf p99':>9}"
    if theirs:
        head += f" {'dc n':>6} {'dc p50':>9} {'dc p99':>9} {'p50 x':>7} {'p99 x':>7}"
    print(head + "   (ms; x = mfserver / Dovecot latency)")
    for name in ours.latencies.keys() | (theirs.latencies.keys() if theirs else set()):
        mine = ours.latencies.get(name) or [float("nan")]
        line = (f"{name:10} {len(ours.latencies.get(name, [])):6} "
                f"{percentile(mine, .5) * 1000:9.1f} {percentile(mine, .99) * 1000:9.1f}")
        if theirs:
            peer = theirs.latencies.get(name) or [float("nan")]
            line += (f" {len(theirs.latencies.get(name, [])):6} "
                     f"{percentile(peer, .5) * 1000:9.1f} {percentile(peer, .99) * 1000:9.1f}"
                     f" {percentile(mine, .5) / percentile(peer, .5):7.1f}"
                     f" {percentile(mine, .99) / percentile(peer, .99):7.1f}")
        print(line)
    for label, phase in phases.items():
        notices = phase.notices or [float("nan")]
        other = phase.busy_cores - phase.server_cores - phase.client_cores
        print(f"{label:9} {phase.operations / phase.elapsed:8.1f} ops/s  "
              f"new-mail notice p50 {percentile(notices, .5) * 1000:.1f} ms "
              f"p99 {percentile(notices, .99) * 1000:.1f} ms  "
              f"CPU cores: server {phase.server_cores:.2f}, clients "
              f"{phase.client_cores:.2f}, others {other:.2f}")
        for name, count in phase.errors.items():
            print(f"   {count} {name} failed, first: {phase.first_error[name]}")
    if theirs:
        ratio = (ours.operations / ours.elapsed) / (theirs.operations / theirs.elapsed)
        print(f"ops/s ratio mfserver / Dovecot: {ratio:.2f}")


# -- main --------------------------------------------------------------------------------------

def temporary_database(url: str) -> tuple[str, Callable[[], None]]:
    name = f"imapbench_{uuid.uuid4().hex[:10]}"
    base = url.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return url.rsplit("/", 1)[0] + "/" + name, drop


def parse_mix(value: str) -> dict[str, float]:
    mix = {}
    for item in value.split(","):
        name, _, weight = item.partition("=")
        if not hasattr(Load, name.strip()) or name.strip() == "run":
            raise argparse.ArgumentTypeError(f"unknown operation {name!r}")
        mix[name.strip()] = float(weight or 1)
    return {name: weight for name, weight in mix.items() if weight > 0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000",
                        help="folder sizes, comma-separated (e.g. 10000,100000)")
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--duration", type=float, default=30, help="seconds per server")
    parser.add_argument("--mix", type=parse_mix, default=parse_mix(DEFAULT_MIX),
                        help=f"operation weights (default {DEFAULT_MIX})")
    parser.add_argument("--tls", action="store_true", help="implicit TLS for both servers")
    parser.add_argument("--database-url", help="postgresql://... for mfserver's index "
                        "(a temporary database is made there); default SQLite")
    parser.add_argument("--no-peer", action="store_true", help="do not run Dovecot")
    parser.add_argument("--profile", type=Path, help="py-spy record mfserver into this dir")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    peer = not args.no_peer and shutil.which("dovecot") is not None and os.geteuid() == 0
    if not peer and not args.no_peer:
        print("Dovecot not run: needs root and `apt-get install -y dovecot-imapd`")

    workdir = Path(tempfile.mkdtemp(prefix="imap-bench-"))
    drop = None
    servers: list = []
    try:
        database_url = None
        if args.database_url:
            database_url, drop = temporary_database(args.database_url)
        ours = Mfserver(workdir, database_url, args.tls)
        servers.append(ours)
        context = None
        files = ensure_certificate(ours.data, "mail.example.test")  # what the server uses
        if args.tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        dovecot = Dovecot(workdir, args.tls, (files.certificate, files.private_key)) \
            if peer else None
        for size in sizes:
            started = time.perf_counter()
            seed(ours.runtime, ours.account_id, folder_name(size), size,
                 dovecot.folder(folder_name(size)) if dovecot else None)
            print(f"seeded {size:,} messages in {time.perf_counter() - started:.1f} s")
        ours.start()
        targets = [Target("mfserver", ours.port, context, lambda: [ours.pid])]
        if dovecot:
            servers.append(dovecot)
            dovecot.start()
            targets.append(Target("dovecot", dovecot.port, context, dovecot.pids))
        backend = "PostgreSQL" if database_url else "SQLite"
        print(f"mfserver ({backend} index) and {'Dovecot' if dovecot else 'no peer'}, "
              f"{'TLS' if args.tls else 'plaintext'} on loopback, mix {args.mix}")
        for size in sizes:
            load = Load(folder_name(size), size, args.mix)
            phases, warm = {}, {}
            for target in targets:
                warm[target.name] = asyncio.run(warm_up(target, folder_name(size), load))
                spy = None
                if args.profile and target.name == "mfserver":
                    args.profile.mkdir(parents=True, exist_ok=True)
                    spy = subprocess.Popen(
                        ["py-spy", "record", "--gil", "-r", "100", "--format", "raw",
                         "-p", str(ours.pid), "-o", str(args.profile / f"mfserver-{size}.txt"),
                         "-d", str(int(args.duration) + 5)],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    time.sleep(1)
                phases[target.name] = asyncio.run(load.run(target, args.clients, args.duration))
                if spy is not None:
                    spy.send_signal(signal.SIGINT)
                    spy.wait(60)
            report(size, args.clients, phases, warm)
    finally:
        for server in servers:
            server.stop()
        if drop is not None:
            drop()
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def folder_name(size: int) -> str:
    return f"Bench{size // 1000}k" if size % 1000 == 0 else f"Bench{size}"


if __name__ == "__main__":
    sys.exit(main())
