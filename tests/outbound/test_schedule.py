"""The retry schedule and which notifications each outcome calls for."""

from __future__ import annotations

from mfserver.outbound.outcome import Outcome
from mfserver.outbound.queue import QueuedMessage, RecipientStatus
from mfserver.outbound.schedule import RetryPolicy, plan

POLICY = RetryPolicy(lifetime=5 * 86400, base=300, cap=4 * 3600, delay_warning=4 * 3600)


def message(sender="a@example.org", notify=frozenset({"FAILURE"}), attempts=0):
    recipient = RecipientStatus(1, "b@example.net", notify, None, "queued", attempts, 0, None,
                                None, False)
    return QueuedMessage("Q", sender, None, None, False, False, 10, 0, None, None, (recipient,))


def test_backoff_doubles_up_to_the_cap():
    assert [POLICY.backoff(n) for n in range(1, 9)] == [
        300, 600, 1200, 2400, 4800, 9600, 14400, 14400]


def test_temporary_failure_is_rescheduled_and_the_last_try_is_at_the_deadline():
    busy = Outcome.temporary("4.2.0", "450 busy")
    [update] = plan(message(attempts=2), {1: busy}, 1000, POLICY).updates
    assert (update.state, update.next_attempt) == ("queued", 1000 + 1200)
    [update] = plan(message(attempts=20), {1: busy}, 5 * 86400 - 60, POLICY).updates
    assert update.next_attempt == 5 * 86400
    result = plan(message(), {1: busy}, 5 * 86400, POLICY)
    assert result.updates[0].state == "failed" and result.failed[0].outcome.status == "4.4.7"


def test_notifications_follow_notify_and_never_go_to_the_null_sender():
    refused = Outcome.permanent("5.1.1", "550 no")
    assert len(plan(message(), {1: refused}, 0, POLICY).failed) == 1
    assert plan(message(sender=""), {1: refused}, 0, POLICY).reports == []
    assert plan(message(notify=frozenset({"NEVER"})), {1: refused}, 0, POLICY).reports == []
    accepted = Outcome.from_reply(250, "ok", "mx")
    assert plan(message(notify=frozenset({"SUCCESS"})), {1: accepted}, 0, POLICY).relayed
    with_dsn = Outcome.from_reply(250, "ok", "mx", remote_dsn=True)
    assert plan(message(notify=frozenset({"SUCCESS"})), {1: with_dsn}, 0, POLICY).reports == []


def test_reply_codes_become_outcomes():
    assert Outcome.from_reply(550, "5.7.1 spam", "mx").status == "5.7.1"
    assert Outcome.from_reply(451, "5.7.1 mismatched", "mx").status == "4.0.0"
    assert Outcome.from_reply(421, "busy\r\nBcc: x", "mx").text == "421 busy Bcc: x"
