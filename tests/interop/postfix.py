"""A private Postfix 3.7 instance on loopback, for interop tests and the SMTP bench.

It needs root (Postfix's master) and Debian's postfix package. Everything lives under one
work directory: its own config directory (`postfix -c`), queue, data and maillog; only the
services it uses, none chrooted (Debian's master.cf chroots most of them into the queue
directory, which would need copies of /etc files there); no aliases; local delivery off.

- `virtual` maps addresses to maildirs under the work directory (owned by `nobody`), as
  virtual(8) delivers them.
- `relay` maps domains to `HOST:PORT`: Postfix relays their mail there (transport_maps with
  `smtp:[HOST]:PORT`, no MX lookup), with opportunistic STARTTLS.
- Postfix's own users must reach the work directory: it must not lie under a 0700 directory
  (pytest's tmp_path does); give it a `tempfile.mkdtemp()` made 0755.
- `postfix start` writes to a file, never a pipe: master inherits it and would keep a pipe open
  (a caller waiting for the pipe's end would wait forever).
"""

from __future__ import annotations

import os
import pwd
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from tests.harness import free_port

START_TIMEOUT = 60.0


class PostfixError(RuntimeError):
    """Something waited for did not happen; the message says what."""


def wait_until(ready: Callable[[], bool], timeout: float, what: str,
               details: Callable[[], str] = lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            extra = details()
            raise PostfixError(f"timed out after {timeout:g} s waiting for {what}"
                             + (f"\n{extra}" if extra else ""))
        time.sleep(0.05)


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return f"({path} does not exist)"
    return f"last lines of {path}:\n" + "\n".join(text[-lines:])


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
tlsmgr    unix - - n 1000? 1 tlsmgr
relay     unix - - n - - smtp
error     unix - - n - - error
retry     unix - - n - - error
discard   unix - - n - - discard
virtual   unix - n n - - virtual
anvil     unix - - n - 1 anvil
scache    unix - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


class PrivatePostfix:
    """`virtual`: {address: maildir relative to the mail root}; `relay`: {domain: HOST:PORT}."""

    name = "postfix"

    def __init__(self, workdir: Path, *, hostname: str = "postfix.test",
                 virtual: dict[str, str] | None = None,
                 relay: dict[str, str] | None = None, extra: str = "") -> None:
        self.port = free_port()
        self.config = workdir / "postfix-etc"
        self.config.mkdir()
        base = workdir / "postfix"
        self.queue = base / "queue"
        self.queue.mkdir(parents=True)          # root-owned; `postfix check` fills it
        self.mail = base / "mail"
        self.mail.mkdir()
        nobody = pwd.getpwnam("nobody")
        os.chown(self.mail, nobody.pw_uid, nobody.pw_gid)
        self.maillog = base / "maillog"
        virtual = virtual or {}
        relay = relay or {}
        (self.config / "vmailbox").write_text(
            "".join(f"{address} {path}\n" for address, path in virtual.items()))
        (self.config / "transport").write_text(
            "".join(f"{domain} smtp:[{target.rpartition(':')[0]}]:{target.rpartition(':')[2]}\n"
                    for domain, target in relay.items()))
        domains = sorted({address.rpartition("@")[2] for address in virtual})
        (self.config / "main.cf").write_text(textwrap.dedent(f"""\
            compatibility_level = 3.6
            queue_directory = {self.queue}
            data_directory = {base}/data
            mail_owner = postfix
            setgid_group = postdrop
            inet_interfaces = loopback-only
            inet_protocols = ipv4
            myhostname = {hostname}
            mydestination =
            local_recipient_maps =
            alias_maps =
            alias_database =
            biff = no
            mynetworks = 127.0.0.0/8
            smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
            relay_domains = {" ".join(sorted(relay))}
            transport_maps = texthash:{self.config}/transport
            smtp_tls_security_level = may
            smtp_dns_support_level = disabled
            virtual_mailbox_domains = {" ".join(domains)}
            virtual_mailbox_maps = texthash:{self.config}/vmailbox
            virtual_mailbox_base = {self.mail}
            virtual_uid_maps = static:{nobody.pw_uid}
            virtual_gid_maps = static:{nobody.pw_gid}
            virtual_minimum_uid = {nobody.pw_uid}
            message_size_limit = 62914560
            virtual_mailbox_limit = 0
            in_flow_delay = 0
            maillog_file = {self.maillog}
            maillog_file_prefixes = {base}
            """) + extra)
        (self.config / "master.cf").write_text(
            POSTFIX_SERVICES.format(listen=f"127.0.0.1:{self.port}"))
        self._postfix("check")
        try:
            self._postfix("start")
            wait_until(lambda: listening(self.port), START_TIMEOUT,
                       f"Postfix's smtpd to listen on {self.port}", lambda: tail(self.maillog))
        except PostfixError:
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
                raise PostfixError(f"`postfix {command}` did not return in {timeout:g} s\n"
                                   f"{tail(output)}\n{tail(self.maillog)}") from None
        if result.returncode != 0:
            raise PostfixError(f"`postfix {command}` failed ({result.returncode})\n"
                               f"{tail(output)}\n{tail(self.maillog)}")

    def _master_pid(self) -> int | None:
        try:
            pid = int((self.queue / "pid" / "master.pid").read_text().split()[0])
            os.kill(pid, 0)
            return pid
        except (FileNotFoundError, IndexError, ValueError, ProcessLookupError):
            return None

    def maildir_files(self, path: str) -> list[Path]:
        """The messages delivered into the maildir `path` (relative to the mail root)."""
        found = []
        for sub in ("new", "cur"):
            directory = self.mail / path / sub
            if directory.is_dir():
                found += sorted(directory.iterdir())
        return found

    def stop(self) -> None:
        pid = self._master_pid()
        if pid is None:
            return
        try:
            self._postfix("stop")
            wait_until(lambda: self._master_pid() is None, 30, "Postfix's master to exit")
        except PostfixError as error:
            print(f"{error}\nkilling Postfix's master {pid}", file=sys.stderr)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
