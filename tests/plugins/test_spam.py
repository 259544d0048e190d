"""plugins.spam: rules, DNSBL through the resolver, allow/block lists and the Bayes filter
(on SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import pytest

from mfserver.accounts import Directory
from mfserver.filters import ALLOW, BLOCK, Bayes, FilterError, FilterLists
from mfserver.mailauth.arccheck import ArcResult
from mfserver.mailauth.dkimcheck import DkimResult
from mfserver.mailauth.dmarc import DmarcResult
from mfserver.mailauth.results import AuthenticationResults
from mfserver.mailauth.spfcheck import SpfResult
from mfserver.milter import Action, Envelope, Recipient
from mfserver.milter.message import MilterMessage
from mfserver.resolver import StaticResolver
from plugins.spam import Spam, Thresholds
from plugins.spam.rules import dnsbl_name
from tests.milter.helpers import peer

HAM = (b"From: Bob <bob@friends.example>\r\nTo: alice@example.org\r\nSubject: garden party\r\n"
       b"Date: Fri, 06 Mar 2026 18:12:00 +0100\r\nMessage-ID: <h@friends.example>\r\n\r\n"
       b"Bring the lemonade and the folding chairs for the garden party on Sunday.\r\n")
SPAM = (b"From: \"paypal@secure.example\" <win@lottery.example>\r\nTo: alice@example.org\r\n"
        b"Subject: YOU ARE A WINNER!!!\r\n\r\n"
        b"Claim your lottery prize: $5000 free bitcoin, urgent, click here, act now.\r\n")


@pytest.fixture
def accounts(database):
    directory = Directory(database)
    directory.add_domain("example.org")
    alice = directory.add_account("alice", "pw-alice-123456", address="alice@example.org").id
    bob = directory.add_account("bob", "pw-bob-12345678", address="bob@example.org").id
    return database, alice, bob


def spam_milter(database, resolver=None, dnsbl=(), bayes_min=1) -> Spam:
    return Spam(FilterLists(database), Bayes(database, bayes_min), store=None,
                run_blocking=None, resolver=resolver, dnsbl=tuple(dnsbl),
                thresholds=Thresholds(5.0, 15.0, 3.0))


def message_for(raw: bytes, *accounts: int, sender: str = "bob@friends.example",
                results=None) -> MilterMessage:
    envelope = Envelope(sender, recipients=[Recipient(f"u{a}@example.org", a)
                                            for a in accounts], authentication=results)
    return MilterMessage.parse(peer(address="192.0.2.7"), envelope, raw)


def run(milter: Spam, message: MilterMessage):
    return milter.apply(message, milter.judge(message))


def results(spf="pass", dkim="pass", dmarc="pass", policy="none") -> AuthenticationResults:
    return AuthenticationResults(
        "mail.example.test", SpfResult(spf, "mailfrom", "friends.example"),
        (DkimResult(dkim, "friends.example", "s1", "rsa-sha256", "abcdefgh"),),
        ArcResult("none"), DmarcResult(dmarc, "friends.example", policy, "none"))


def test_ham_stays_in_the_inbox_with_headers(accounts):
    database, alice, _ = accounts
    message = message_for(HAM, alice, results=results())
    assert run(spam_milter(database), message) is None
    assert message.folders == {}
    assert message.get("X-Spam-Status").startswith("No, score=-2.0")
    assert "DMARC_PASS" in message.get("X-Spam-Status")


def test_spam_goes_to_junk_and_worse_is_refused(accounts):
    database, alice, _ = accounts
    message = message_for(SPAM, alice)
    assert run(spam_milter(database), message) is None
    assert message.folders == {f"u{alice}@example.org": "Junk"}
    assert message.get("X-Spam-Status").startswith("Yes")
    resolver = StaticResolver({(dnsbl_name("192.0.2.7", "bl.test"), "A"): ["127.0.0.2"],
                               (dnsbl_name("192.0.2.7", "bl2.test"), "A"): ["127.0.0.4"]})
    milter = spam_milter(database, resolver, ["bl.test", "bl2.test", "bl3.test"])
    message = message_for(SPAM, alice, results=results("fail", "fail", "fail", "reject"))
    verdict = run(milter, message)
    assert verdict.action is Action.REJECT and verdict.code == 550
    assert ("7.2.0.192.bl3.test", "A") in resolver.queries


def test_forged_status_fields_are_replaced(accounts):
    database, alice, _ = accounts
    message = message_for(b"X-Spam-Status: No, score=-100\r\nX-Spam-Score: -100\r\n" + SPAM,
                          alice)
    run(spam_milter(database), message)
    assert len(message.get_all("X-Spam-Status")) == 1 and "-100" not in message.get(
        "X-Spam-Score")


def test_allow_and_block_lists(accounts):
    database, alice, bob = accounts
    lists = FilterLists(database)
    lists.add(alice, ALLOW, "lottery.example")
    lists.add(bob, BLOCK, "friends.example")
    message = message_for(SPAM, alice, bob, sender="win@lottery.example")
    assert run(spam_milter(database), message) is None
    assert message.folders == {f"u{bob}@example.org": "Junk"}  # alice allowed it
    message = message_for(HAM, bob)
    assert run(spam_milter(database), message) is None
    assert message.folders == {f"u{bob}@example.org": "Junk"}  # blocked: Junk
    lists.set(bob, "blocked", "reject")
    message = message_for(HAM, alice, bob)
    assert run(spam_milter(database), message) is None
    assert [r.account_id for r in message.recipients] == [alice]  # bob's copy refused
    verdict = run(spam_milter(database), message_for(HAM, bob))
    assert verdict.action is Action.REJECT and "blocked" in verdict.text


def test_list_patterns(accounts):
    database, alice, _ = accounts
    lists = FilterLists(database)
    lists.add(alice, BLOCK, "Example.NET")
    lists.add(alice, ALLOW, "<Friend@Sub.Example.net>")
    assert lists.match(alice, "friend@sub.example.net") == ALLOW
    assert lists.match(alice, "other@sub.example.net") == BLOCK
    assert lists.match(alice, "x@example.org") is None and lists.match(alice, "") is None
    lists.add(alice, ALLOW, "example.net")  # moves it to the other list
    assert [(e.kind, e.pattern) for e in lists.entries(alice)] == [
        ("allow", "example.net"), ("allow", "friend@sub.example.net")]
    for bad in ("@example.net", "nodot", "a b.example", ""):
        with pytest.raises(FilterError):
            lists.add(alice, BLOCK, bad)
    with pytest.raises(FilterError):
        lists.set(alice, "blocked", "delete")
    assert lists.entries(alice)[0].pattern == "example.net"  # nothing half-done


def test_bayes_learns_per_account(accounts):
    database, alice, bob = accounts
    bayes = Bayes(database, min_messages=1)
    assert bayes.probability(alice, SPAM) is None
    bayes.learn(alice, SPAM, spam=True)
    bayes.learn(alice, HAM, spam=False)
    assert bayes.counts(alice) == (1, 1) and bayes.counts(bob) == (0, 0)
    assert bayes.probability(alice, SPAM.replace(b"5000", b"9000")) > 0.9
    assert bayes.probability(alice, HAM.replace(b"Sunday", b"Saturday")) < 0.1
    assert bayes.probability(bob, SPAM) is None
    message = message_for(SPAM.replace(b"YOU ARE A WINNER!!!", b"hello"), alice)
    run(spam_milter(database), message)
    assert "BAYES_99" in message.get("X-Spam-Status") or "BAYES_100" in message.get(
        "X-Spam-Status")
