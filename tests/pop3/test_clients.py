"""Real POP3 clients against the server: fetchmail (STLS on the plain port, and implicit TLS)
and getmail6 (implicit TLS), in "keep" mode (UIDL-based: a second run fetches nothing) and
in delete mode (the maildrop ends empty). Debian packages `fetchmail` and `getmail6`."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.pop3.conftest import HOST, PASSWORD, POP3Server, message

needs_fetchmail = pytest.mark.skipif(shutil.which("fetchmail") is None and not os.environ.get("CI"),
                                     reason="fetchmail is not installed (Debian: fetchmail)")
needs_getmail = pytest.mark.skipif(shutil.which("getmail") is None and not os.environ.get("CI"),
                                   reason="getmail6 is not installed (Debian: getmail6)")


def run(command: list[str], home: Path) -> subprocess.CompletedProcess:
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def fetchmail(server: POP3Server, user: str, home: Path, *, keep: bool,
              implicit_tls: bool = False) -> subprocess.CompletedProcess:
    """One fetchmail poll; messages land as files in home/out (one `cat > FILE` each)."""
    out = home / "out"
    out.mkdir(parents=True, exist_ok=True)
    port = server.pop3s if implicit_tls else server.pop3
    rc = home / "fetchmailrc"
    rc.write_text(
        "set no syslog\nset no bouncemail\n"
        f"poll 127.0.0.1 service {port} protocol POP3 uidl\n"
        f'  user "{user}" there with password "{PASSWORD}" is "{user}" here\n'
        f'  {"ssl " if implicit_tls else ""}sslproto "TLS1.2+" sslcertck '
        f'sslcertfile "{server.ca_file}" sslcommonname "{HOST}"\n'
        f'  {"keep" if keep else "no keep"}\n'
        f'  mda "cat > {out}/m.$$"\n')
    rc.chmod(0o600)
    return run(["fetchmail", "-f", str(rc), "--idfile", str(home / "fetchids"),
                "--pidfile", str(home / "pid"), "--nodetach"], home)


def getmail(server: POP3Server, user: str, home: Path, *,
            delete: bool) -> subprocess.CompletedProcess:
    """One getmail run over implicit TLS; messages land as files in home/out through an MDA
    (getmail's Maildir destination refuses to run as root, which CI is)."""
    out = home / "out"
    out.mkdir(parents=True, exist_ok=True)
    rc = home / "getmailrc"
    rc.write_text(
        "[retriever]\ntype = SimplePOP3SSLRetriever\nserver = 127.0.0.1\n"
        f"port = {server.pop3s}\nusername = {user}\npassword = {PASSWORD}\n"
        f"ca_certs = {server.ca_file}\nssl_cert_hostname = {HOST}\n"
        "[destination]\ntype = MDA_external\npath = /bin/sh\n"
        f"arguments = (\"-c\", \"cat > {out}/m.$$\")\nallow_root_commands = true\n"
        f"[options]\ndelete = {str(delete).lower()}\nread_all = false\nverbose = 0\n")
    return run(["getmail", "--getmaildir", str(home), "--rcfile", str(rc)], home)


def fetched(home: Path) -> list[bytes]:
    return [path.read_bytes() for path in sorted((home / "out").glob("m.*"))]


def maildrop_size(server: POP3Server, user: str) -> int:
    client = server.connect(user)
    count = client.stat()[0]
    client.quit()
    return count


def subjects(messages: list[bytes]) -> list[bytes]:
    return sorted(line.rstrip(b"\r") for m in messages for line in m.split(b"\n")
                  if line.startswith(b"Subject: "))


@needs_fetchmail
@pytest.mark.parametrize("implicit_tls", [False, True], ids=["stls", "pop3s"])
def test_fetchmail_keep_fetches_each_message_once_then_delete_empties(pop3_server, tmp_path,
                                                                       implicit_tls):
    user = pop3_server.account()
    body = b".a line with a leading dot\r\nand one without\r\n"
    pop3_server.deliver(user, message(1, body), message(2))
    first = fetchmail(pop3_server, user, tmp_path, keep=True, implicit_tls=implicit_tls)
    assert first.returncode == 0, first.stderr
    assert subjects(fetched(tmp_path)) == [b"Subject: message 1", b"Subject: message 2"]
    assert any(b"\n.a line with a leading dot" in m for m in fetched(tmp_path))
    again = fetchmail(pop3_server, user, tmp_path, keep=True, implicit_tls=implicit_tls)
    assert again.returncode == 1, again.stderr  # 1: no mail
    assert len(fetched(tmp_path)) == 2
    assert maildrop_size(pop3_server, user) == 2
    pop3_server.deliver(user, message(3))
    third = fetchmail(pop3_server, user, tmp_path, keep=False, implicit_tls=implicit_tls)
    assert third.returncode == 0, third.stderr
    assert len(fetched(tmp_path)) == 3
    assert maildrop_size(pop3_server, user) == 2  # the new one fetched and deleted
    home = tmp_path / "fresh"  # a fetchmail that never saw these: takes and deletes all
    everything = fetchmail(pop3_server, user, home, keep=False, implicit_tls=implicit_tls)
    assert everything.returncode == 0, everything.stderr
    assert len(fetched(home)) == 2
    assert maildrop_size(pop3_server, user) == 0


@needs_getmail
def test_getmail_keep_fetches_each_message_once_then_delete_empties(pop3_server, tmp_path):
    user = pop3_server.account()
    pop3_server.deliver(user, message(1, b"..two dots\r\n.one dot\r\n"), message(2))
    first = getmail(pop3_server, user, tmp_path, delete=False)
    assert first.returncode == 0, first.stderr
    messages = fetched(tmp_path)
    assert len(messages) == 2
    assert any(b"\n..two dots\n.one dot\n" in m for m in messages)
    again = getmail(pop3_server, user, tmp_path, delete=False)
    assert again.returncode == 0, again.stderr
    assert len(fetched(tmp_path)) == 2
    assert maildrop_size(pop3_server, user) == 2
    pop3_server.deliver(user, message(3))
    third = getmail(pop3_server, user, tmp_path, delete=True)
    assert third.returncode == 0, third.stderr
    # only the new one is fetched; getmail's delete also removes what it fetched before
    assert subjects(fetched(tmp_path)) == [b"Subject: message 1", b"Subject: message 2",
                                           b"Subject: message 3"]
    assert maildrop_size(pop3_server, user) == 0
    home = tmp_path / "fresh"
    assert getmail(pop3_server, user, home, delete=True).returncode == 0
    assert fetched(home) == []
