"""POP3 bench: STAT+UIDL on a 10,000-message maildrop and RETR throughput, mfserver beside
Dovecot's POP3 on the same messages, in one run.

    apt-get install -y dovecot-pop3d        # the peer; the bench installs nothing itself
    python bench/pop3_bench.py [--messages 10000] [--big 40] [--big-size 1M] [--rounds 10]
                               [--retr 2000] [--tls] [--no-peer]

Run by hand as root (Dovecot's master needs it); without root or without `dovecot` only
mfserver is measured. Defaults take about two minutes on 2 cores, most of it seeding.

The servers (both on 127.0.0.1, plaintext POP3 with USER/PASS by default, implicit TLS on
both with `--tls`, the same certificate):
- mfserver: `twistd -ny mfserver.tac` (tests.harness) on a temporary data directory, its default
  SQLite index, `allow_plaintext_login = true`.
- Dovecot 2.3 (Debian's dovecot-pop3d): a private instance as PEERS.md describes (own config
  file, no !include, a passwd-file, maildir as user `nobody`), in performance mode
  (one long-lived pop3-login process, pop3 processes reused), its default
  `pop3_uidl_format = %08Xu%08Xv` (the format mfserver uses too). Its passwd-file holds
  mfserver's own argon2id hashes as `{ARGON2ID}` rather than PEERS.md's `{PLAIN}`: a login
  that checks a hash against one that compares strings measures the hash, not the server.

Seeding (not timed): the messages are generated once (sizes 2-8 KB at random for the big
maildrop; `--big` messages of `--big-size` with byte-stuffable lines for the throughput one).
mfserver gets them through `Store.deliver` before it starts (the durable path: fsync, index
row); Dovecot gets the same bytes as files in its maildir's cur/. Dovecot builds its index on
the first login, which an untimed warm-up login does for both (its time is printed).

Timed, alternating between the servers round by round so drift hits both alike:
- poll: connect and USER/PASS (timed apart: the password check dominates it), then STAT,
  UIDL (all 10,000 lines), QUIT — what a "leave mail on server" client does when it finds
  nothing new; and UIDL and LIST alone.
- RETR small: one session retrieving `--retr` of the small messages one after the other.
- RETR big: one session retrieving every big message.
MB/s counts the octets received on the wire (byte-stuffed, with the status lines).
"""

from __future__ import annotations

import argparse
import os
import pwd
import random
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mfserver.config import load_settings  # noqa: E402
from mfserver.config.schema import size as parse_size  # noqa: E402
from mfserver.runtime import open_runtime  # noqa: E402
from tests.harness import Server, free_port, write_config  # noqa: E402

DOMAIN = "example.org"
PASSWORD = "bench password 1939"
SMALL, BIG = "small", "big"  # the two accounts


# -- messages ----------------------------------------------------------------------------------

def small_message(number: int, rng: random.Random) -> bytes:
    header = (f"From: Alice <alice@example.org>\r\nTo: Bob <bob@example.org>\r\n"
              f"Subject: bench {number}\r\nDate: Mon, 02 Jan 2023 10:00:00 +0100\r\n"
              f"Message-ID: <{number}.{uuid.uuid4().hex}@example.org>\r\n\r\n").encode()
    line = b"x" * 76 + b"\r\n"
    return header + line * (rng.randint(2048, 8192) // len(line))


def big_message(number: int, size: int) -> bytes:
    header = (f"From: Alice <alice@example.org>\r\nTo: Bob <bob@example.org>\r\n"
              f"Subject: big {number}\r\nMessage-ID: <big{number}@example.org>\r\n\r\n").encode()
    lines = [b"%s%s\r\n" % (b"." if n % 10 == 0 else b"", b"y" * 74) for n in range(10)]
    block = b"".join(lines)
    return header + block * ((size - len(header)) // len(block))


# -- the servers -------------------------------------------------------------------------------

class Mfserver:
    def __init__(self, workdir: Path, use_tls: bool) -> None:
        self.data = workdir / "mfserver"
        self.port = free_port()
        listen = {"pop3s" if use_tls else "pop3": self.port}
        listen["pop3" if use_tls else "pop3s"] = free_port()
        self.config = write_config(self.data, ports=listen, auth={"allow_plaintext_login": True},
                                   store={"rescan_interval": 0, "default_quota": 0})
        self.runtime = open_runtime(load_settings(self.config, environ={}))
        self.runtime.directory.add_domain(DOMAIN)
        self.accounts = {}
        for user in (SMALL, BIG):
            info = self.runtime.directory.add_account(user, PASSWORD,
                                                      address=f"{user}@{DOMAIN}", quota=0)
            self.runtime.store.provision(info.id)
            self.accounts[user] = info.id
        self.server: Server | None = None

    def seed(self, user: str, messages: list[bytes]) -> float:
        started = time.perf_counter()
        for raw in messages:
            self.runtime.store.deliver(self.accounts[user], raw)
        return time.perf_counter() - started

    def password_hashes(self) -> dict[str, str]:
        """The stored hashes (argon2id), for Dovecot's passdb: both logins cost the same."""
        from sqlalchemy import select

        from mfserver.db.models import Account
        with self.runtime.database.read() as session:
            return dict(session.execute(select(Account.username, Account.password_hash)).all())

    def certificate(self) -> tuple[Path, Path]:
        tls = self.data / "tls"
        return tls / "selfsigned.pem", tls / "selfsigned.key"

    def start(self) -> None:
        self.runtime.close()
        self.server = Server(self.config).start(wait_for=self.port)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


class Dovecot:
    """A private Dovecot POP3 in performance mode (PEERS.md); mail belongs to `nobody`."""

    def __init__(self, workdir: Path, use_tls: bool, certificate: tuple[Path, Path],
                 hashes: dict[str, str]) -> None:
        self.home = workdir / "dovecot"
        self.mail = self.home / "mail"
        self.port = free_port()
        user = pwd.getpwnam("nobody")
        self.uid, self.gid = user.pw_uid, user.pw_gid
        for name in (SMALL, BIG):
            for sub in ("cur", "new", "tmp"):
                (self.mail / name / sub).mkdir(parents=True)
        (self.home / "passwd").write_text(
            "".join(f"{name}:{{ARGON2ID}}{hashes[name]}:::::\n" for name in (SMALL, BIG)))
        ssl_settings = (f"ssl = required\nssl_cert = <{certificate[0]}\n"
                        f"ssl_key = <{certificate[1]}\n") if use_tls else "ssl = no\n"
        plain, secure = (0, self.port) if use_tls else (self.port, 0)
        self.config = self.home / "dovecot.conf"
        self.config.write_text(f"""\
base_dir = {self.home}/run
state_dir = {self.home}/state
log_path = {self.home}/log
instance_name = pop3bench-{uuid.uuid4().hex[:8]}
listen = 127.0.0.1
protocols = pop3
{ssl_settings}disable_plaintext_auth = no
auth_mechanisms = plain login
pop3_uidl_format = %08Xu%08Xv
passdb {{
  driver = passwd-file
  args = username_format=%u {self.home}/passwd
}}
userdb {{
  driver = static
  args = uid={self.uid} gid={self.gid} home={self.home}/home/%u
}}
mail_location = maildir:{self.mail}/%u
mail_max_userip_connections = 1000
service pop3-login {{
  inet_listener pop3 {{
    port = {plain}
  }}
  inet_listener pop3s {{
    port = {secure}
    ssl = yes
  }}
  service_count = 0
  process_min_avail = 2
}}
service pop3 {{
  service_count = 1000
}}
""")

    def seed(self, user: str, messages: list[bytes]) -> float:
        started = time.perf_counter()
        cur = self.mail / user / "cur"
        base = int(time.time()) - len(messages)
        for number, raw in enumerate(messages):
            (cur / f"{base + number}.M{number}P1.bench:2,").write_bytes(raw)
        return time.perf_counter() - started

    def start(self) -> None:
        (self.home / "home").mkdir(exist_ok=True)
        for top in (self.home / "home", self.mail):
            for directory, _, files in os.walk(top):
                os.chown(directory, self.uid, self.gid)
                for name in files:
                    os.chown(os.path.join(directory, name), self.uid, self.gid)
        os.chmod(self.home, 0o755)
        os.chmod(self.home.parent, 0o755)  # mkdtemp's 0700 keeps out Dovecot's users
        subprocess.run(["dovecot", "-c", str(self.config)], check=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"dovecot did not listen; see {self.home}/log")

    def stop(self) -> None:
        subprocess.run(["dovecot", "-c", str(self.config), "stop"], check=False,
                       capture_output=True)


# -- the client --------------------------------------------------------------------------------

class Client:
    """A minimal POP3 client that reads answers in big chunks (poplib reads line by line in
    Python, which would measure poplib)."""

    def __init__(self, port: int, context: ssl.SSLContext | None) -> None:
        raw = socket.create_connection(("127.0.0.1", port), timeout=120)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = context.wrap_socket(raw) if context else raw
        self.buffer = bytearray()
        self.received = 0
        self.line()

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("closed")
        self.received += len(chunk)
        self.buffer += chunk

    def line(self) -> bytes:
        while (end := self.buffer.find(b"\r\n")) < 0:
            self._fill()
        line = bytes(self.buffer[:end])
        del self.buffer[:end + 2]
        if not line.startswith(b"+"):
            raise RuntimeError(f"server said {line!r}")
        return line

    def command(self, text: bytes) -> bytes:
        self.sock.sendall(text + b"\r\n")
        return self.line()

    def multi(self, text: bytes) -> bytes:
        """Send a command with a multi-line answer; the text up to and without the dot."""
        self.command(text)
        start = 0
        while True:
            if self.buffer.startswith(b".\r\n"):
                del self.buffer[:3]
                return b""
            end = self.buffer.find(b"\r\n.\r\n", start)
            if end >= 0:
                text_ = bytes(self.buffer[:end + 2])
                del self.buffer[:end + 5]
                return text_
            start = max(len(self.buffer) - 4, 0)
            self._fill()

    def login(self, user: str) -> None:
        self.command(b"USER " + user.encode())
        self.command(b"PASS " + PASSWORD.encode())

    def quit(self) -> None:
        self.command(b"QUIT")
        self.sock.close()


# -- measuring ---------------------------------------------------------------------------------

def poll(port: int, context: ssl.SSLContext | None) -> dict[str, float]:
    """A "leave mail on server" poll that finds nothing new: login, STAT, UIDL, QUIT; and
    LIST in a second session."""
    started = time.perf_counter()
    client = Client(port, context)
    client.login(SMALL)
    logged_in = time.perf_counter()
    client.command(b"STAT")
    before = time.perf_counter()
    uidl = client.multi(b"UIDL")
    after = time.perf_counter()
    client.quit()
    ended = time.perf_counter()
    assert uidl.count(b"\r\n") >= 1
    client = Client(port, context)
    client.login(SMALL)
    listed = time.perf_counter()
    client.multi(b"LIST")
    list_time = time.perf_counter() - listed
    client.quit()
    return {"login": logged_in - started, "poll": ended - logged_in, "uidl": after - before,
            "list": list_time}


def retrieve(port: int, context: ssl.SSLContext | None, user: str,
             count: int) -> tuple[float, int]:
    """Seconds and octets for RETR 1..count in one session."""
    client = Client(port, context)
    client.login(user)
    total = int(client.command(b"STAT").split()[1])
    count = min(count, total)
    received = client.received
    started = time.perf_counter()
    for number in range(1, count + 1):
        client.multi(b"RETR %d" % number)
    elapsed = time.perf_counter() - started
    octets = client.received - received
    client.command(b"RSET")
    client.quit()
    return elapsed, octets


def alternate(targets: dict[str, int], rounds: int,
              measure: Callable[[int], object]) -> dict[str, list]:
    results: dict[str, list] = {name: [] for name in targets}
    for number in range(rounds):
        order = list(targets) if number % 2 == 0 else list(reversed(targets))
        for name in order:
            results[name].append(measure(targets[name]))
    return results


def ratio(ours: float, theirs: float | None) -> str:
    return f"{ours / theirs:6.2f}" if theirs else "     -"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=40, help="number of big messages")
    parser.add_argument("--big-size", default="1M")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--retr", type=int, default=2000, help="small messages per RETR run")
    parser.add_argument("--tls", action="store_true", help="implicit TLS on both servers")
    parser.add_argument("--no-peer", action="store_true")
    args = parser.parse_args()

    peer = not args.no_peer and shutil.which("dovecot") is not None and os.geteuid() == 0
    if not peer and not args.no_peer:
        print("Dovecot not run: needs root and `apt-get install -y dovecot-pop3d`")
    rng = random.Random(1939)
    small = [small_message(n, rng) for n in range(args.messages)]
    big = [big_message(n, parse_size(args.big_size)) for n in range(args.big)]
    workdir = Path(tempfile.mkdtemp(prefix="pop3bench-"))
    servers: list = []
    try:
        ours = Mfserver(workdir, args.tls)
        servers.append(ours)
        seeded = ours.seed(SMALL, small) + ours.seed(BIG, big)
        hashes = ours.password_hashes()
        print(f"seeded mfserver through Store.deliver: {len(small) + len(big)} messages "
              f"in {seeded:.1f} s")
        ours.start()
        targets = {"mfserver": ours.port}
        if peer:
            dovecot = Dovecot(workdir, args.tls, ours.certificate(), hashes)
            servers.append(dovecot)
            dovecot.seed(SMALL, small)
            dovecot.seed(BIG, big)
            dovecot.start()
            targets["dovecot"] = dovecot.port
        context = None
        if args.tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        for name, port in targets.items():
            started = time.perf_counter()
            for user in (SMALL, BIG):
                client = Client(port, context)
                client.login(user)
                client.command(b"STAT")
                client.quit()
            print(f"warm-up login (builds Dovecot's index) {name}: "
                  f"{time.perf_counter() - started:.2f} s")

        polls = alternate(targets, args.rounds, lambda port: poll(port, context))
        smalls = alternate(targets, 3, lambda port: retrieve(port, context, SMALL, args.retr))
        bigs = alternate(targets, 3, lambda port: retrieve(port, context, BIG, args.big))
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"\nPOP3 on 127.0.0.1 ({'implicit TLS' if args.tls else 'plaintext'}); "
          f"{args.messages} messages of 2-8 KB, {args.big} of {args.big_size}; "
          f"medians of {args.rounds} rounds (RETR: best of 3)")
    names = list(targets)
    print(f"{'':34}" + "".join(f"{name:>12}" for name in names) + "   ratio mfserver/dovecot")

    def row(label: str, values: dict[str, float], unit: str) -> None:
        theirs = values.get("dovecot")
        print(f"{label:34}" + "".join(f"{values[name]:>10.1f}{unit:>2}" for name in names)
              + f"   {ratio(values['mfserver'], theirs)}")

    for key, label in (("login", "connect+USER/PASS (argon2id) (ms)"),
                       ("poll", "then STAT+UIDL+QUIT (ms)"),
                       ("uidl", "UIDL of all messages (ms)"),
                       ("list", "LIST of all messages (ms)")):
        row(label, {name: 1000 * statistics.median(p[key] for p in polls[name])
                    for name in names}, "")
    for results, label in ((smalls, f"RETR {args.retr} small messages"),
                           (bigs, f"RETR {args.big} x {args.big_size}")):
        count = args.retr if results is smalls else args.big
        rates = {name: max(octets / seconds for seconds, octets in results[name]) / 1e6
                 for name in names}
        messages = {name: count / min(seconds for seconds, _ in results[name])
                    for name in names}
        row(label + " (MB/s)", rates, "")
        row(label + " (msg/s)", messages, "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
