"""swaks (Debian package) against the server: pipelining, STARTTLS with a verified
certificate, AUTH PLAIN/LOGIN on submission and an 8-bit body. (swaks 20201014 has no BDAT
or SMTPUTF8 options; those are covered by the raw and smtplib transcripts.)"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.smtp.conftest import HOST, PASSWORD, SMTPServer

pytestmark = pytest.mark.skipif(shutil.which("swaks") is None and not os.environ.get("CI"),
                                reason="swaks is not installed (CI installs it)")


def swaks(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["swaks", "--server", "127.0.0.1", "--helo", "swaks.example.net",
                           *args], capture_output=True, text=True, timeout=60)


def test_pipelined_starttls_delivery(smtp_server: SMTPServer) -> None:
    user = smtp_server.account()
    result = swaks("--port", str(smtp_server.smtp), "--pipeline", "--tls", "--tls-verify",
                   "--tls-ca-path", str(smtp_server.ca_file), "--tls-sni", HOST,
                   "--from", "sender@example.net", "--to", f"{user}@example.org",
                   "--header", "Subject: via swaks", "--body", "Grüße aus swaks\n")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "<** " not in result.stdout  # no error reply
    [stored] = smtp_server.messages(user)
    assert b"Subject: via swaks" in stored and b"with ESMTPS" in stored
    assert "Grüße aus swaks".encode() in stored


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_submission_with_auth(smtp_server: SMTPServer, mechanism: str) -> None:
    user = smtp_server.account()
    result = swaks("--port", str(smtp_server.submission), "--tls", "--tls-verify",
                   "--tls-ca-path", str(smtp_server.ca_file), "--tls-sni", HOST,
                   "--auth", mechanism, "--auth-user", "alice", "--auth-password", PASSWORD,
                   "--from", "alice@example.org", "--to", f"{user}@example.org",
                   "--header", "From: alice@example.org", "--header", "Subject: auth")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(smtp_server.messages(user)) == 1


def test_relay_attempt_is_refused(smtp_server: SMTPServer) -> None:
    result = swaks("--port", str(smtp_server.smtp), "--from", "spammer@example.net",
                   "--to", "victim@example.com")
    assert result.returncode != 0
    assert "<** 554 5.7.1" in result.stdout
