"""SMTP bench: messages per second accepted and durably delivered, mfserver beside aiosmtpd
(a durable maildir handler) and Postfix, the same load in one run.

    apt-get install -y postfix     # the peer and the load generator (smtp-source)
    pip install aiosmtpd           # the Python peer
    python bench/smtp_bench.py [--sizes 1K,100K,5M] [--concurrency 10] [--seconds 20]
                               [--no-postfix] [--no-aiosmtpd]

Run by hand as root (Postfix's master needs it). Defaults take about five minutes on 2 cores.

The load: Postfix's `smtp-source` (PEERS.md), `-s C` sessions at once, one message per
session (`-d`), `-m` messages of `-l` octets to one local recipient, plaintext on 127.0.0.1.
The count per size is chosen so a run lasts about `--seconds` on mfserver.

The servers, each on its own port, each delivering into a maildir on the same disk:
- mfserver: `twistd -ny mfserver.tac` on a temporary data directory, SQLite index; 250 after
  the message file, its directory and the index row are durable.
- aiosmtpd 1.4 (PEERS.md): a handler that writes tmp/, fsyncs, renames into new/ and fsyncs
  the directory in a thread pool before answering 250; its own process.
- Postfix 3.7 (PEERS.md): a private instance (own config and queue directories,
  virtual(8) maildir delivery, `in_flow_delay = 0` so the burst is not throttled on purpose).
  Its 250 means the queue file is fsynced; the maildir copy comes later, so two figures are
  printed: accepted/s (smtp-source done) and delivered/s (every file in the maildir).

Printed: per size, msg/s for each server and mfserver's ratio to each peer.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mfserver.config import load_settings  # noqa: E402
from mfserver.config.schema import size as parse_size  # noqa: E402
from mfserver.runtime import open_runtime  # noqa: E402
from tests.harness import Server, free_port, write_config  # noqa: E402

DOMAIN = "example.org"
USER = "bench"
RECIPIENT = f"{USER}@{DOMAIN}"


def wait_port(port: int, timeout: float = 30.0) -> None:
    import socket
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def count_files(directory: Path) -> int:
    total = 0
    for sub in ("new", "cur"):
        try:
            total += len(os.listdir(directory / sub))
        except FileNotFoundError:
            pass
    return total


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
        self.server = Server(self.config).start(wait_for=self.port)

    def delivered(self) -> int:
        return count_files(self.maildir)

    def stop(self) -> None:
        self.server.stop()


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
        self.process = subprocess.Popen([sys.executable, "-c", AIOSMTPD, str(self.maildir),
                                         str(self.port)], stdout=subprocess.PIPE)
        wait_port(self.port)

    def delivered(self) -> int:
        return count_files(self.maildir)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


class Postfix:
    name = "postfix"

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.config = workdir / "postfix-etc"
        self.config.mkdir()
        base = workdir / "postfix"
        (base / "mail").mkdir(parents=True)
        nobody = pwd.getpwnam("nobody")
        os.chown(base / "mail", nobody.pw_uid, nobody.pw_gid)
        self.maildir = base / "mail" / DOMAIN / USER
        (self.config / "vmailbox").write_text(f"{RECIPIENT} {DOMAIN}/{USER}/\n")
        (self.config / "main.cf").write_text(textwrap.dedent(f"""\
            compatibility_level = 3.6
            queue_directory = {base}/queue
            data_directory = {base}/data
            mail_owner = postfix
            setgid_group = postdrop
            inet_interfaces = loopback-only
            inet_protocols = ipv4
            myhostname = bench.example
            mydestination =
            mynetworks = 127.0.0.0/8
            smtpd_relay_restrictions = reject_unauth_destination
            virtual_mailbox_domains = {DOMAIN}
            virtual_mailbox_maps = texthash:{self.config}/vmailbox
            virtual_mailbox_base = {base}/mail
            virtual_uid_maps = static:{nobody.pw_uid}
            virtual_gid_maps = static:{nobody.pw_gid}
            virtual_minimum_uid = 1
            message_size_limit = 62914560
            in_flow_delay = 0
            maillog_file = {base}/maillog
            maillog_file_prefixes = {base}
            """))
        master = Path("/etc/postfix/master.cf").read_text().splitlines()
        lines = []
        for line in master:
            if line.startswith("smtp ") and " inet " in line:
                line = line.replace("smtp ", f"127.0.0.1:{self.port} ", 1)
            lines.append(line)
        (self.config / "master.cf").write_text("\n".join(lines) + "\n")
        subprocess.run(["postfix", "-c", str(self.config), "check"], check=True)
        subprocess.run(["postfix", "-c", str(self.config), "start"], check=True,
                       capture_output=True)
        wait_port(self.port)

    def delivered(self) -> int:
        return count_files(self.maildir)

    def stop(self) -> None:
        subprocess.run(["postfix", "-c", str(self.config), "stop"], capture_output=True)


# -- the load --------------------------------------------------------------------------------

def run_load(server: object, size: int, count: int, concurrency: int) -> tuple[float, float]:
    """(accepted msg/s, delivered msg/s) for `count` messages of `size` octets."""
    before = server.delivered()  # type: ignore[attr-defined]
    started = time.perf_counter()
    subprocess.run(["smtp-source", "-4", "-d", "-s", str(concurrency), "-m", str(count),
                    "-l", str(size), "-f", "sender@example.net", "-t", RECIPIENT,
                    f"127.0.0.1:{server.port}"],  # type: ignore[attr-defined]
                   check=True, capture_output=True, timeout=3600)
    accepted = time.perf_counter() - started
    deadline = time.monotonic() + 600
    while server.delivered() - before < count:  # type: ignore[attr-defined]
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.name}: only {server.delivered() - before} of "  # type: ignore[attr-defined]
                               f"{count} delivered")
        time.sleep(0.02)
    delivered = time.perf_counter() - started
    return count / accepted, count / delivered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1K,100K,5M")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--no-postfix", action="store_true")
    parser.add_argument("--no-aiosmtpd", action="store_true")
    args = parser.parse_args()
    if shutil.which("smtp-source") is None:
        sys.exit("smtp-source not found: apt-get install postfix")
    with tempfile.TemporaryDirectory(prefix="smtp-bench-") as temp:
        workdir = Path(temp)
        os.chmod(workdir, 0o755)
        servers: list[object] = [Mfserver(workdir)]
        if not args.no_aiosmtpd:
            servers.append(Aiosmtpd(workdir))
        if not args.no_postfix and os.geteuid() == 0 and shutil.which("postfix"):
            servers.append(Postfix(workdir))
        try:
            for text in args.sizes.split(","):
                octets = parse_size(text)
                probe = max(20, min(200, 20 * 1024 * 1024 // octets))
                warm = run_load(servers[0], octets, probe, args.concurrency)[0]
                count = max(10, int(warm * args.seconds))
                print(f"\n{text} messages, {args.concurrency} concurrent, {count} each")
                results = {}
                for server in servers:
                    run_load(server, octets, max(5, count // 20), args.concurrency)  # warm
                    results[server.name] = run_load(server, octets, count,  # type: ignore
                                                    args.concurrency)
                    accepted, delivered = results[server.name]  # type: ignore[attr-defined]
                    print(f"  {server.name:9} accepted {accepted:8.1f} msg/s   "  # type: ignore
                          f"delivered {delivered:8.1f} msg/s")
                mine = results["mfserver"][1]
                for name, (_, delivered) in results.items():
                    if name != "mfserver":
                        print(f"  ratio mfserver/{name} (delivered): {mine / delivered:.2f}")
        finally:
            for server in servers:
                server.stop()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
