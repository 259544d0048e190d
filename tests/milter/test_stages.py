"""External milters stage by stage, as Postfix speaks to them: a fake milter (a real socket
server) behind a real server, driven by smtplib; and the milter client on its own, for what
the wire cannot show (no session left behind)."""

from __future__ import annotations

import smtplib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from twisted.internet import defer, task

from mfserver.milter import Action, Direction, Recipient
from mfserver.milter.api import FailurePolicy
from mfserver.milter.chain import ChainLink, MilterChain
from mfserver.milter.conversation import Conversation
from mfserver.milter.external import ExternalMilter, parse_address
from tests.dnsserver import FakeDNS
from tests.harness import Server, free_port, write_config
from tests.milter.fakemilter import FakeMilter
from tests.milter.helpers import envelope, peer
from tests.smtp.conftest import HOST, OUTSIDE_RECORDS, add_accounts, message


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeMilter]:
    milter = FakeMilter()
    yield milter
    milter.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fake: FakeMilter) -> Iterator[int]:
    base: Path = tmp_path_factory.mktemp("stages")
    ports = {"smtp": free_port(), "submission": free_port(), "smtps": free_port(),
             "imaps": free_port()}
    dns = FakeDNS(OUTSIDE_RECORDS).start()
    config = write_config(base / "data", ports=ports, server={"hostname": HOST},
                          dns=dns.config(), outbound={"mta_sts": False},
                          milter={"inbound": [fake.address], "outbound": []})
    add_accounts(config, [], dns)
    running = Server(config).start(wait_for=ports["smtp"])
    try:
        yield ports["smtp"]
    finally:
        running.stop()
        dns.stop()


@pytest.fixture
def milter(fake: FakeMilter) -> Iterator[FakeMilter]:
    fake.reset()
    yield fake
    fake.reset()


def client(port: int) -> smtplib.SMTP:
    return smtplib.SMTP("127.0.0.1", port, local_hostname="client.example.net", timeout=30)


def test_every_stage_reaches_the_milter_with_postfix_macros(server, milter):
    milter.tempfail_rcpt = {"bob@example.org"}
    smtp = client(server)
    port = smtp.sock.getsockname()[1]
    assert smtp.ehlo()[0] == 250
    assert smtp.mail("news@example.net")[0] == 250
    assert smtp.rcpt("alice@example.org")[0] == 250
    assert smtp.rcpt("bob@example.org") == (450, b"4.7.1 Not now for this one")
    code, text = smtp.data(message("first"))
    assert code == 250
    first_id = text.decode().rpartition(" ")[2]
    assert smtp.mail("news@example.net")[0] == 250
    assert smtp.rcpt("carol@example.org")[0] == 250
    code, text = smtp.data(message("second"))
    assert code == 250
    smtp.quit()
    seen = milter.last(port)
    assert seen.steps() == ["O", "C", "H", "M", "R", "R", "T", "L", "N", "B", "E", "A",
                            "M", "R", "T", "L", "N", "B", "E", "A", "Q"]
    assert seen.ended == "quit"
    connect = seen.macros["C"]
    assert connect["j"] == HOST and connect["{daemon_name}"] == "mfserver"
    assert connect["{client_addr}"] == "127.0.0.1" and connect["_"] == "unknown [127.0.0.1]"
    assert seen.macros["M"]["{mail_addr}"] == "news@example.net"
    assert seen.macros["R"]["{rcpt_addr}"] == "carol@example.org"
    assert seen.macros["R"]["{rcpt_mailer}"] == "local"
    assert seen.queue_ids == [first_id, text.decode().rpartition(" ")[2]]
    assert seen.macros["T"]["i"] == seen.macros["N"]["i"] == seen.queue_ids[1]


def test_a_refusal_at_connect_refuses_every_command(server, milter):
    milter.reject_connect = True
    smtp = client(server)
    port = smtp.sock.getsockname()[1]
    assert smtp.ehlo() == (554, b"5.7.1 Go away")
    assert smtp.helo()[0] == 554
    assert smtp.mail("news@example.net") == (554, b"5.7.1 Go away")
    assert smtp.rcpt("alice@example.org")[0] == 554
    assert smtp.docmd("DATA")[0] == 554
    assert smtp.rset()[0] == 250
    assert smtp.noop()[0] == 250
    smtp.quit()
    seen = milter.last(port)
    assert seen.steps() == ["O", "C", "Q"]


def test_a_milter_that_hangs_up_tempfails_the_session(server, milter):
    milter.hang_up = True  # the failure policy is tempfail (the default)
    smtp = client(server)
    assert smtp.ehlo()[0] == 451
    assert smtp.mail("news@example.net")[0] == 451
    smtp.quit()
    assert milter.last().ended == "closed"


def test_rset_aborts_the_transaction_before_the_next_mail(server, milter):
    smtp = client(server)
    port = smtp.sock.getsockname()[1]
    smtp.ehlo()
    assert smtp.mail("news@example.net")[0] == 250
    assert smtp.rcpt("alice@example.org")[0] == 250
    assert smtp.rset()[0] == 250
    assert smtp.rset()[0] == 250  # nothing more to abort
    assert smtp.mail("news@example.net")[0] == 250
    assert smtp.ehlo()[0] == 250  # EHLO ends the transaction too
    smtp.quit()
    assert milter.last(port).steps() == ["O", "C", "H", "M", "R", "A", "M", "A", "H", "Q"]


@pytest.mark.parametrize("point", ["greeting", "ehlo", "mail", "rcpt", "data"])
def test_a_client_gone_at_any_point_ends_the_milter_session(server, milter, point):
    smtp = client(server)
    port = smtp.sock.getsockname()[1]
    steps = ["greeting", "ehlo", "mail", "rcpt", "data"]
    for step in steps[1:steps.index(point) + 1]:
        if step == "ehlo":
            smtp.ehlo()
        elif step == "mail":
            smtp.mail("news@example.net")
        elif step == "rcpt":
            smtp.rcpt("alice@example.org")
        else:
            smtp.putcmd("data")
            assert smtp.getreply()[0] == 354
            smtp.send(b"Subject: cut off\r\n\r\nhalf a mess")
    smtp.sock.shutdown(socket.SHUT_RDWR)
    smtp.close()
    seen = milter.last(port)
    assert seen.ended == "quit"
    assert seen.steps()[-1] == "Q" and "E" not in seen.steps()


# -- the client on its own -----------------------------------------------------------------

def synchronous(function, *args):
    return defer.maybeDeferred(function, *args)


def outcome(deferred: defer.Deferred):
    found: list = []
    deferred.addBoth(found.append)
    assert found, "did not finish"
    return found[0]


def test_close_leaves_no_session_at_any_stage(milter):
    external = ExternalMilter(milter.address, synchronous, 10)
    chain = MilterChain([ChainLink(external, "fake", FailurePolicy.TEMPFAIL, 10)],
                        Direction.INBOUND, clock=task.Clock())
    for stages in range(4):
        client_peer = peer()
        mail = envelope()
        calls = [(chain.connect, client_peer),
                 (chain.helo, client_peer, "mx.example.net"),
                 (chain.mail_from, client_peer, mail),
                 (chain.rcpt, client_peer, mail, Recipient("alice@example.org", 1))]
        for stage, *args in calls[:stages + 1]:
            assert outcome(stage(*args)).action is Action.CONTINUE
        outcome(chain.close(client_peer))
        assert external.sessions == {}
        assert milter.last().ended == "quit"
        # a stage after the end is not sent anywhere
        assert outcome(chain.helo(client_peer, "late.example.net")).action is Action.CONTINUE
        assert external.sessions == {}


@pytest.mark.parametrize("policy, action", [(FailurePolicy.TEMPFAIL, Action.TEMPFAIL),
                                            (FailurePolicy.SKIP, Action.CONTINUE)])
def test_an_unreachable_milter_follows_the_policy_at_every_stage(policy, action):
    external = ExternalMilter(f"inet:127.0.0.1:{free_port()}", synchronous, 5)
    chain = MilterChain([ChainLink(external, "gone", policy, 5)], Direction.INBOUND,
                        clock=task.Clock())
    client_peer = peer()
    assert outcome(chain.connect(client_peer)).action is action
    assert outcome(chain.helo(client_peer, "mx.example.net")).action is action
    assert outcome(chain.mail_from(client_peer, envelope())).action is action
    outcome(chain.close(client_peer))
    assert external.sessions == {}


def test_submitted_mail_carries_the_login_macros(milter):
    sender = peer(Direction.OUTBOUND, login="alice")
    talk = Conversation(*parse_address(milter.address), 10)
    try:
        assert talk.connect(sender) is None
        assert talk.mail(sender, envelope("alice@example.org")) is None
        assert talk.rcpt(sender, Recipient("bob@remote.test", None)) is None
    finally:
        talk.quit()
    seen = milter.last()
    assert seen.macros["M"]["{auth_authen}"] == "alice"
    assert seen.macros["M"]["{auth_type}"] == "PLAIN" and seen.macros["M"]["i"] == "Q1"
    assert seen.macros["R"]["{rcpt_mailer}"] == "smtp"
    assert seen.macros["R"]["{rcpt_host}"] == "remote.test"
    assert seen.steps() == ["O", "C", "M", "R", "Q"]


def test_a_stage_that_times_out_fails_the_rest_of_the_session(milter):
    pending: list[defer.Deferred] = []

    def stalled(function, *args):  # the thread pool never answers the first stage
        if not pending:
            pending.append(defer.Deferred())
            return pending[0]
        return synchronous(function, *args)
    clock = task.Clock()
    external = ExternalMilter(milter.address, stalled, 10)
    chain = MilterChain([ChainLink(external, "slow", FailurePolicy.TEMPFAIL, 10)],
                        Direction.INBOUND, clock=clock)
    client_peer = peer()
    connected = chain.connect(client_peer)
    clock.advance(10)
    assert outcome(connected).action is Action.TEMPFAIL
    helo = chain.helo(client_peer, "mx.example.net")
    pending[0].callback(None)  # the stalled stage ends at last; the next one fails at once
    assert outcome(helo).action is Action.TEMPFAIL
    outcome(chain.close(client_peer))
    assert external.sessions == {}


def test_abort_and_close_reach_in_process_milters_and_never_fail():
    told: list[str] = []

    class Session:
        def abort(self, peer):
            told.append("abort")

        def close(self, peer):
            told.append("close")
            raise RuntimeError("broken")
    chain = MilterChain([ChainLink(Session(), "s", FailurePolicy.TEMPFAIL, 5)],
                        Direction.INBOUND, clock=task.Clock())
    assert outcome(chain.abort(peer())) is None
    assert outcome(chain.close(peer())) is None
    assert told == ["abort", "close"]
