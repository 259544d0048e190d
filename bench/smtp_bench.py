"""SMTP bench: messages per second accepted and delivered, mfserver beside aiosmtpd (a durable
maildir handler) and Postfix, the same load in one run.

    apt-get install -y postfix     # the peer and the load generator (smtp-source)
    pip install aiosmtpd           # the Python peer
    python bench/smtp_bench.py [--sizes 1K,100K,5M] [--concurrency 10] [--seconds 20]
                               [--timeout 600] [--no-postfix] [--no-aiosmtpd] [--profile DIR]

Run by hand as root (Postfix's master needs it); without root or without `postfix` only
mfserver and aiosmtpd are measured. The defaults take about two minutes on 2 cores: each
timed run lasts about `--seconds` on mfserver, and less on a faster peer.

The load: Postfix's `smtp-source` (PEERS.md) with `-s C` sessions at once, each sending its
share of the `-m` messages back to back over one connection (`-d`: no disconnect between
messages), `-l` octets of body each, to one local recipient, plaintext on 127.0.0.1. The count
per size is chosen so a run lasts about `--seconds` on mfserver (a short untimed probe run
measures its rate first); every server then gets an untimed warm-up of a twentieth of that
count and the timed run. Two figures per run: accepted/s (smtp-source done: every message
answered 250) and delivered/s (until every message is a file in the maildir's new/ or cur/).

The servers, each on its own free port, each delivering into a maildir on the same disk:
- mfserver: `twistd -ny mfserver.tac` (tests.harness) on a temporary data directory, SQLite
  index; it answers 250 after the message file, its directory and the index row are durable,
  so its two figures are the same.
- aiosmtpd 1.4 (PEERS.md), its own process: a handler that writes tmp/, fsyncs, renames into
  new/ and fsyncs the directory in a thread pool before answering 250; the same holds.
- Postfix 3.7 (PEERS.md): a private instance, `postfix -c DIR start` on its own main.cf and
  master.cf (only the services it needs, none chrooted: Debian's master.cf chroots them into
  the queue directory, which would need copies of /etc files there), its own queue and data
  directories, logging to a file through postlogd (`maillog_file`, listed in
  `maillog_file_prefixes`), virtual(8) maildir delivery as `nobody`, no alias maps, and
  `in_flow_delay = 0` so the burst is not throttled on purpose. Its 250 means the queue file
  is fsynced; virtual(8) fsyncs the maildir file later but never the directory, so its
  delivered/s counts a copy that is not yet durable by mfserver's rule.

Every wait has a bound: a server that does not start, an smtp-source run that does not finish
within `--timeout` seconds, or deliveries that make no progress for 60 s stop the bench with a
message saying which. With `--profile DIR`, `py-spy record` (pip install py-spy) samples every
thread of mfserver's twistd process during each timed mfserver run into DIR as raw collapsed
stacks (one file per size); it slows the server down a little.

Printed: per size, msg/s accepted and delivered for each server and mfserver's ratios to each
peer, then a summary table.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mfserver.config import load_settings  # noqa: E402
from mfserver.config.schema import size as parse_size  # noqa: E402
from mfserver.runtime import open_runtime  # noqa: E402
from tests.harness import Server, free_port, write_config  # noqa: E402

DOMAIN = "example.org"
USER = "bench"
RECIPIENT = f"{USER}@{DOMAIN}"
START_TIMEOUT = 60.0     # seconds for a server to listen
STALL_TIMEOUT = 60.0     # seconds without a new maildir file before delivery counts as stuck


class BenchError(RuntimeError):
    """Something the bench waited for did not happen; the message says what."""


def wait_until(ready: Callable[[], bool], timeout: float, what: str,
               details: Callable[[], str] = lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            extra = details()
            raise BenchError(f"timed out after {timeout:g} s waiting for {what}"
                             + (f"\n{extra}" if extra else ""))
        time.sleep(0.05)


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def count_files(directory: Path) -> int:
    total = 0
    for sub in ("new", "cur"):
        try:
            total += len(os.listdir(directory / sub))
        except FileNotFoundError:
            pass
    return total


def tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return f"({path} does not exist)"
    return f"last lines of {path}:\n" + "\n".join(text[-lines:])


# -- servers ---------------------------------------------------------------------------------

class Mfserver:
    name = "mfserver"

    def __init__(self, workdir: Path) -> None:
        data = workdir / "mfserver"
        self.port = free_port()
        self.config = write_config(data, ports={"smtp": self.port},
                                   smtp={"max_message_size": "60M"},
                                   store={"rescan_interval": 0, "default_quota": 0})
        runtime = open_runtime(load_settings(self.config, environ={}))
        runtime.directory.add_domain(DOMAIN)
        info = runtime.directory.add_account(USER, "bench password", address=RECIPIENT,
                                             quota=0)
        runtime.store.provision(info.id)
        self.maildir = data / "mail" / info.maildir
        runtime.close()
        self.server = Server(self.config)
        try:
            self.server.start(wait_for=self.port, timeout=START_TIMEOUT)
        except AssertionError as error:  # the harness's own timeout, with the twistd log
            self.stop()
            raise BenchError(f"mfserver did not start: {error}") from None

    @property
    def pid(self) -> int:
        assert self.server.process is not None
        return self.server.process.pid

    def delivered(self) -> int:
        return count_files(self.maildir)

    def stop(self) -> None:
        if self.server.process is not None:
            self.server.stop(timeout=30)


AIOSMTPD = textwrap.dedent('''
    import asyncio, os, sys, time, uuid
    from concurrent.futures import ThreadPoolExecutor
    from aiosmtpd.controller import Controller

    root, port = sys.argv[1], int(sys.argv[2])
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    pool = ThreadPoolExecutor(16)

    def store(data):
        name = f"{time.time():.6f}.{uuid.uuid4().hex}.bench"
        tmp = os.path.join(root, "tmp", name)
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(tmp, os.path.join(root, "new", name))
        fd = os.open(os.path.join(root, "new"), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            await asyncio.get_running_loop().run_in_executor(pool, store, envelope.content)
            return "250 2.0.0 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port,
                            server_hostname="bench.example", data_size_limit=60 * 2**20)
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()
''')


class Aiosmtpd:
    name = "aiosmtpd"

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.maildir = workdir / "aiosmtpd"
        self.log = workdir / "aiosmtpd.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", AIOSMTPD, str(self.maildir), str(self.port)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)

        def up() -> bool:
            if self.process.poll() is not None:
                raise BenchError(f"aiosmtpd exited with {self.process.returncode}\n"
                                 f"{tail(self.log)}")
            return listening(self.port)
        try:
            wait_until(up, START_TIMEOUT, f"aiosmtpd to listen on {self.port}",
                       lambda: tail(self.log))
        except BenchError:
            self.stop()
            raise

    def delivered(self) -> int:
        return count_files(self.maildir)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


# Only the services this instance uses; chroot "n" everywhere (see the module docstring).
POSTFIX_SERVICES = """\
{listen} inet n - n - - smtpd
cleanup   unix n - n - 0 cleanup
qmgr      unix n - n 300 1 qmgr
rewrite   unix - - n - - trivial-rewrite
bounce    unix - - n - 0 bounce
defer     unix - - n - 0 bounce
trace     unix - - n - 0 bounce
verify    unix - - n - 1 verify
flush     unix n - n 1000? 0 flush
proxymap  unix - - n - - proxymap
smtp      unix - - n - - smtp
relay     unix - - n - - smtp
error     unix - - n - - error
retry     unix - - n - - error
discard   unix - - n - - discard
virtual   unix - n n - - virtual
anvil     unix - - n - 1 anvil
scache    unix - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


class Postfix:
    name = "postfix"

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.config = workdir / "postfix-etc"
        self.config.mkdir()
        base = workdir / "postfix"
        self.queue = base / "queue"
        self.queue.mkdir(parents=True)          # root-owned; `postfix check` fills it
        (base / "mail").mkdir()
        nobody = pwd.getpwnam("nobody")
        os.chown(base / "mail", nobody.pw_uid, nobody.pw_gid)
        self.maildir = base / "mail" / DOMAIN / USER
        self.maillog = base / "maillog"
        (self.config / "vmailbox").write_text(f"{RECIPIENT} {DOMAIN}/{USER}/\n")
        (self.config / "main.cf").write_text(textwrap.dedent(f"""\
            compatibility_level = 3.6
            queue_directory = {self.queue}
            data_directory = {base}/data
            mail_owner = postfix
            setgid_group = postdrop
            inet_interfaces = loopback-only
            inet_protocols = ipv4
            myhostname = bench.example
            mydestination =
            local_recipient_maps =
            alias_maps =
            alias_database =
            biff = no
            mynetworks = 127.0.0.0/8
            smtpd_relay_restrictions = reject_unauth_destination
            virtual_mailbox_domains = {DOMAIN}
            virtual_mailbox_maps = texthash:{self.config}/vmailbox
            virtual_mailbox_base = {base}/mail
            virtual_uid_maps = static:{nobody.pw_uid}
            virtual_gid_maps = static:{nobody.pw_gid}
            virtual_minimum_uid = {nobody.pw_uid}
            message_size_limit = 62914560
            virtual_mailbox_limit = 0
            in_flow_delay = 0
            maillog_file = {self.maillog}
            maillog_file_prefixes = {base}
            """))
        (self.config / "master.cf").write_text(
            POSTFIX_SERVICES.format(listen=f"127.0.0.1:{self.port}"))
        self._postfix("check")
        # Output to a file, not a pipe: master inherits it and would keep a pipe open forever.
        try:
            self._postfix("start")
            wait_until(lambda: listening(self.port), START_TIMEOUT,
                       f"Postfix's smtpd to listen on {self.port}", lambda: tail(self.maillog))
        except BenchError:
            self.stop()
            raise

    def _postfix(self, command: str, timeout: float = 60) -> None:
        output = self.config.parent / f"postfix-{command}.out"
        with open(output, "wb") as handle:
            try:
                result = subprocess.run(["postfix", "-c", str(self.config), command],
                                        stdin=subprocess.DEVNULL, stdout=handle,
                                        stderr=subprocess.STDOUT, timeout=timeout)
            except subprocess.TimeoutExpired:
                raise BenchError(f"`postfix {command}` did not return in {timeout:g} s\n"
                                 f"{tail(output)}\n{tail(self.maillog)}") from None
        if result.returncode != 0:
            raise BenchError(f"`postfix {command}` failed ({result.returncode})\n"
                             f"{tail(output)}\n{tail(self.maillog)}")

    def _master_pid(self) -> int | None:
        try:
            pid = int((self.queue / "pid" / "master.pid").read_text().split()[0])
            os.kill(pid, 0)
            return pid
        except (FileNotFoundError, IndexError, ValueError, ProcessLookupError):
            return None

    def delivered(self) -> int:
        return count_files(self.maildir)

    def stop(self) -> None:
        pid = self._master_pid()
        if pid is None:
            return
        try:
            self._postfix("stop")
            wait_until(lambda: self._master_pid() is None, 30, "Postfix's master to exit")
        except BenchError as error:
            print(f"{error}\nkilling Postfix's master {pid}", file=sys.stderr)
            os.kill(pid, signal.SIGKILL)


# -- the load --------------------------------------------------------------------------------

def run_load(server: Mfserver | Aiosmtpd | Postfix, size: int, count: int, concurrency: int,
             timeout: float) -> tuple[float, float]:
    """(accepted msg/s, delivered msg/s) for `count` messages of `size` octets."""
    before = server.delivered()
    started = time.perf_counter()
    command = ["smtp-source", "-4", "-d", "-s", str(concurrency), "-m", str(count),
               "-l", str(size), "-f", "sender@example.net", "-t", RECIPIENT,
               f"127.0.0.1:{server.port}"]
    try:
        result = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True,
                                timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"smtp-source against {server.name} did not finish {count} "
                         f"messages of {size} octets in {timeout:g} s "
                         f"({server.delivered() - before} delivered)") from None
    if result.returncode != 0:
        raise BenchError(f"smtp-source against {server.name} failed ({result.returncode}): "
                         f"{result.stderr.decode(errors='replace').strip()[-2000:]}")
    accepted = time.perf_counter() - started
    progress = [server.delivered() - before, time.monotonic()]

    def done() -> bool:
        now = server.delivered() - before
        if now != progress[0]:
            progress[:] = [now, time.monotonic()]
        elif time.monotonic() - progress[1] > STALL_TIMEOUT:
            raise BenchError(f"{server.name}: deliveries stuck at {now} of {count} for "
                             f"{STALL_TIMEOUT:.0f} s after smtp-source finished")
        return now >= count
    wait_until(done, timeout, f"{server.name} to deliver {count} messages")
    delivered = time.perf_counter() - started
    return count / accepted, count / delivered


def profiler(pid: int, output: Path) -> subprocess.Popen:
    """py-spy sampling every thread of `pid` into `output` until it gets SIGINT."""
    if shutil.which("py-spy") is None:
        raise BenchError("--profile needs py-spy: pip install py-spy")
    spy = subprocess.Popen(["py-spy", "record", "--threads", "--nonblocking", "-r", "100",
                            "--format", "raw", "-p", str(pid), "-o", str(output)],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    time.sleep(1)
    if spy.poll() is not None:
        raise BenchError(f"py-spy could not attach to {pid} ({spy.returncode})")
    return spy


def stop_profiler(spy: subprocess.Popen) -> None:
    spy.send_signal(signal.SIGINT)
    try:
        spy.wait(60)
    except subprocess.TimeoutExpired:
        spy.kill()
        spy.wait(10)
        print("py-spy did not stop on SIGINT; killed (profile may be empty)", file=sys.stderr)


def bench(args: argparse.Namespace, workdir: Path) -> None:
    servers: list[Mfserver | Aiosmtpd | Postfix] = []
    table: list[tuple[str, str, float, float]] = []
    try:
        servers.append(Mfserver(workdir))
        if not args.no_aiosmtpd:
            servers.append(Aiosmtpd(workdir))
        if not args.no_postfix:
            if os.geteuid() != 0 or shutil.which("postfix") is None:
                print("Postfix skipped: needs root and the postfix package", file=sys.stderr)
            else:
                servers.append(Postfix(workdir))
        mine = servers[0]
        assert isinstance(mine, Mfserver)
        for text in args.sizes.split(","):
            octets = parse_size(text)
            probe = max(20, min(200, 20 * 1024 * 1024 // octets))
            rate = run_load(mine, octets, probe, args.concurrency, args.timeout)[0]
            count = max(10, int(rate * args.seconds))
            print(f"\n{text} messages, {args.concurrency} concurrent, {count} each", flush=True)
            results = {}
            for server in servers:
                run_load(server, octets, max(5, count // 20), args.concurrency, args.timeout)
                spy = None
                if args.profile and server is mine:
                    args.profile.mkdir(parents=True, exist_ok=True)
                    spy = profiler(mine.pid, args.profile / f"mfserver-{text}.txt")
                try:
                    results[server.name] = run_load(server, octets, count, args.concurrency,
                                                    args.timeout)
                finally:
                    if spy is not None:
                        stop_profiler(spy)
                accepted, delivered = results[server.name]
                table.append((text, server.name, accepted, delivered))
                print(f"  {server.name:9} accepted {accepted:8.1f} msg/s   "
                      f"delivered {delivered:8.1f} msg/s", flush=True)
            for name, (accepted, delivered) in results.items():
                if name != mine.name:
                    print(f"  ratio mfserver/{name}: accepted "
                          f"{results[mine.name][0] / accepted:.2f}, delivered "
                          f"{results[mine.name][1] / delivered:.2f}")
    finally:
        for server in reversed(servers):
            server.stop()
    print("\n| size | server | accepted msg/s | delivered msg/s |\n|---|---|---:|---:|")
    for text, name, accepted, delivered in table:
        print(f"| {text} | {name} | {accepted:.1f} | {delivered:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1K,100K,5M")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="length of a timed run on mfserver")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="longest time one smtp-source run (and its deliveries) may take")
    parser.add_argument("--no-postfix", action="store_true")
    parser.add_argument("--no-aiosmtpd", action="store_true")
    parser.add_argument("--profile", type=Path, help="py-spy record mfserver into this dir")
    args = parser.parse_args()
    if shutil.which("smtp-source") is None:
        sys.exit("smtp-source not found: apt-get install postfix")
    with tempfile.TemporaryDirectory(prefix="smtp-bench-") as temp:
        workdir = Path(temp)
        os.chmod(workdir, 0o755)     # Postfix's daemons and `nobody` must reach their dirs
        try:
            bench(args, workdir)
        except BenchError as error:
            sys.exit(f"smtp_bench: {error}")


if __name__ == "__main__":
    main()
