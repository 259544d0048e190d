"""The outbound queue survives a restart of the whole server: a message that could not be
sent before a SIGTERM is delivered by the next start, once; nothing is lost or doubled."""

from __future__ import annotations

import smtplib
import time
from pathlib import Path

import pytest

from tests.dnsserver import FakeDNS
from tests.harness import Server, cli, free_port, write_config
from tests.smtp.conftest import OUTSIDE_RECORDS, message
from tests.smtpsink import SMTPSink

PASSWORD = "restart test password"


def test_a_queued_message_is_delivered_after_a_restart(tmp_path: Path) -> None:
    dns = FakeDNS(OUTSIDE_RECORDS).start()
    sink = SMTPSink(hostname="mx.remote.test").start()
    sink.fail("connect", "421 4.3.2 come back later")
    ports = {"submission": free_port(), "smtps": free_port()}
    config = write_config(tmp_path / "data", ports=ports, dns=dns.config(),
                          auth={"allow_plaintext_login": True},
                          outbound={"remote_port": sink.port, "mta_sts": False,
                                    "retry_base": "1s", "retry_cap": "1s"})
    cli("domain", "add", "example.org", config=config, check=True)
    cli("user", "add", "erin@example.org", "--password-stdin",
        config=config, stdin=PASSWORD + "\n", check=True)
    server = Server(config).start(wait_for=ports["submission"])
    try:
        client = smtplib.SMTP("127.0.0.1", ports["submission"], timeout=30)
        client.ehlo()
        client.login("erin", PASSWORD)
        client.sendmail("erin@example.org", ["far@remote.test"],
                        message("survivor", sender="erin@example.org", to="far@remote.test"))
        client.quit()
        deadline = time.monotonic() + 60
        while "421 4.3.2" not in cli("queue", "list", config=config).stdout:
            assert time.monotonic() < deadline, "no attempt was recorded"
            time.sleep(0.2)
        assert server.stop()
        sink.clear_failures()
        assert sink.messages == []
        server = Server(config).start(wait_for=ports["submission"])
        [sent] = sink.wait_for_messages(1, timeout=90)
        assert b"Subject: survivor" in sent.data
        deadline = time.monotonic() + 60
        while cli("queue", "list", config=config).stdout.strip() != "queue is empty":
            assert time.monotonic() < deadline, "the message stayed in the queue"
            time.sleep(0.2)
        time.sleep(1.5)  # a second delivery, if there were one, would have come by now
        assert len(sink.messages) == 1
    finally:
        server.stop()
        sink.stop()
        dns.stop()


pytestmark = pytest.mark.timeout(180)
