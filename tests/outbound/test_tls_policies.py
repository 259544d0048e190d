"""TLS that must hold: MTA-STS enforce (RFC 8461) and a smarthost with AUTH over verified TLS."""

from __future__ import annotations

import pytest
import trustme

from mfserver.config import ConfigError
from mfserver.outbound import QueuedRecipient, QueueRunner
from tests.outbound.conftest import MESSAGE
from tests.smtpsink import SMTPSink

BOB = [QueuedRecipient("bob@example.net")]
POLICY_URL = "https://mta-sts.example.net/.well-known/mta-sts.txt"


def publish_policy(world, mode: str = "enforce", mx: str = "mx.example.net") -> None:
    world.resolver.add("_mta-sts.example.net", "TXT", "v=STSv1; id=20240101T000000;")
    world.policy_bodies[POLICY_URL] = (f"version: STSv1\r\nmode: {mode}\r\nmx: {mx}\r\n"
                                       "max_age: 86400\r\n").encode()


def held_reply(world) -> str:
    [queued] = world.queue.list()
    recipient = queued.recipients[0]
    assert recipient.state == "queued" and recipient.attempts == 1
    return recipient.last_reply


def test_enforce_delivers_over_verified_tls(world, sink):
    publish_policy(world)
    world.queue.enqueue("alice@example.org", BOB, MESSAGE)
    world.run(world.runner())
    [message] = sink.messages
    assert message.tls


def test_enforce_holds_mail_when_starttls_is_missing(world, sink):
    publish_policy(world)
    sink.context = None
    world.queue.enqueue("alice@example.org", BOB, MESSAGE)
    world.run(world.runner())
    assert "TLS is required" in held_reply(world)
    assert sink.transactions == []


def test_enforce_holds_mail_when_the_certificate_does_not_verify(world, sink):
    publish_policy(world)
    sink.context = None
    with SMTPSink(certificate=trustme.CA().issue_cert("mx.example.net"), port=0) as other:
        world.resolver.records[("example.net", "MX")] = ["10 mx.example.net"]
        world.queue.enqueue("alice@example.org", BOB, MESSAGE)
        runner = world.runner(remote_port=other.port)
        world.run(runner)
        assert "TLS" in held_reply(world)
        assert other.transactions == []
        assert len(other.sessions) == 1  # no retry in plain text under enforce


def test_enforce_holds_mail_when_no_mx_matches_the_policy(world, sink):
    publish_policy(world, mx="*.elsewhere.example")
    world.queue.enqueue("alice@example.org", BOB, MESSAGE)
    world.run(world.runner())
    assert "allows none of its MX hosts" in held_reply(world)
    assert sink.sessions == []


def test_testing_mode_only_logs(world, sink):
    publish_policy(world, mode="testing", mx="*.elsewhere.example")
    sink.context = None
    world.queue.enqueue("alice@example.org", BOB, MESSAGE)
    world.run(world.runner())
    assert len(sink.messages) == 1


def test_a_cached_policy_holds_when_the_policy_server_is_gone(world, sink):
    publish_policy(world)
    world.queue.enqueue("alice@example.org", BOB, MESSAGE)
    runner = world.runner()
    world.run(runner)
    assert len(sink.messages) == 1
    world.policy_bodies.clear()  # an attacker blocks the HTTPS fetch and strips STARTTLS
    world.resolver.records.pop(("_mta-sts.example.net", "TXT"))
    sink.context = None
    world.queue.enqueue("alice@example.org", BOB, MESSAGE)
    world.run(runner)
    assert "TLS is required" in held_reply(world)


@pytest.fixture
def relay(ca, world):
    """A smarthost that wants AUTH: users relay/s3cret, certificate for smarthost.test."""
    world.resolver.add("smarthost.test", "A", "127.0.0.1")
    password = world.tmp_path / "relay-password"
    password.write_text("s3cret\n")

    def make(**options):
        sink = SMTPSink(certificate=ca.issue_cert("smarthost.test"), users={"relay": "s3cret"},
                        **options).start()
        runner = world.runner(smarthost=f"smarthost.test:{sink.port}",
                              smarthost_tls="implicit" if options.get("implicit_tls")
                              else "starttls",
                              smarthost_username="relay",
                              smarthost_password_file=str(password))
        made.append(sink)
        return sink, runner

    made: list[SMTPSink] = []
    yield make
    for sink in made:
        sink.stop()


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "implicit-tls"])
def test_smarthost_with_auth_over_tls(world, relay, implicit):
    smarthost, runner = relay(implicit_tls=implicit)
    world.queue.enqueue("alice@example.org", [QueuedRecipient("bob@example.net"),
                                              QueuedRecipient("carol@remote.test")], MESSAGE)
    world.run(runner)
    [message] = smarthost.messages
    assert message.tls and message.auth == ("PLAIN", "relay", "s3cret")
    assert message.addresses == ["bob@example.net", "carol@remote.test"]
    assert world.sink.sessions == []  # nothing went to the MX


def test_smarthost_without_tls_gets_no_credentials(world, relay):
    smarthost, runner = relay()
    smarthost.context = None
    world.queue.enqueue("alice@example.org", BOB, MESSAGE)
    world.run(runner)
    assert "TLS is required" in held_reply(world)
    assert not any(command.startswith("AUTH") for command in smarthost.sessions[0].commands)


def test_smarthost_refusing_the_password_holds_the_mail(world, relay):
    smarthost, runner = relay()
    smarthost.users = {"relay": "other"}
    world.queue.enqueue("alice@example.org", BOB, MESSAGE)
    world.run(runner)
    assert "authentication failed: 535 5.7.8 bad credentials" in held_reply(world)


def test_a_missing_password_file_is_a_configuration_error(world):
    settings = world.settings(smarthost="smarthost.test:587", smarthost_username="relay",
                              smarthost_password_file=str(world.tmp_path / "missing"))
    with pytest.raises(ConfigError, match="smarthost_password_file: No such file"):
        QueueRunner(world.queue, world.resolver, None, world.deliver_local, settings)
