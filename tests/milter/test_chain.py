"""The chain runner: order, verdicts, modifications, failure policies, the loader."""

from __future__ import annotations

import pytest
from twisted.internet import defer, task

from mfserver.milter import Action, Direction, Verdict, quarantine, reject
from mfserver.milter.api import FailurePolicy, Milter
from mfserver.milter.chain import ChainLink, MilterChain
from mfserver.milter.config import MilterConfigError, resolve
from mfserver.milter.message import MilterMessage
from tests.milter.helpers import envelope, peer

RAW = (b"Received: from a\r\n\tby b; now\r\nFrom: a@example.net\r\nSubject: hi\r\n"
       b"X-Odd:no-space\r\n\r\nbody line\r\n")


def result(chain: MilterChain, raw: bytes = RAW):
    found = []
    chain.message(peer(), envelope(), raw).addBoth(found.append)
    assert found, "the chain did not finish"
    return found[0]


class Recorder(Milter):
    def __init__(self, log: list, name: str, verdict: Verdict | None = None) -> None:
        self.log, self.name, self.verdict = log, name, verdict

    def connect(self, peer):
        self.log.append((self.name, "connect"))
        return self.verdict

    def header(self, message, name, value):
        self.log.append((self.name, "header", name, value))

    def eoh(self, message):
        self.log.append((self.name, "eoh"))

    def eom(self, message):
        self.log.append((self.name, "eom"))
        return self.verdict


def chain(*milters, policy=FailurePolicy.TEMPFAIL, clock=None) -> MilterChain:
    return MilterChain([ChainLink(m, f"m{i}", policy, 5) for i, m in enumerate(milters)],
                       Direction.INBOUND, clock=clock or task.Clock())


def test_stages_run_in_order_with_the_sendmail_names():
    log: list = []
    outcome = result(chain(Recorder(log, "a"), Recorder(log, "b")))
    assert [entry[:2] for entry in log if entry[0] == "a"] == [
        ("a", "header")] * 4 + [("a", "eoh"), ("a", "eom")]
    assert ("a", "header", "X-Odd", "no-space") in log
    assert ("a", "header", "Received", "from a\r\n\tby b; now") in log
    assert log.index(("a", "eom")) < log.index(("b", "header", "Received", "from a\r\n\tby b; now"))
    assert outcome.verdict.action is Action.CONTINUE
    assert outcome.message is RAW  # nothing changed: the very bytes


def test_a_refusal_ends_the_chain():
    log: list = []
    outcome = result(chain(Recorder(log, "a", reject(554, "no")), Recorder(log, "b")))
    assert outcome.verdict.action is Action.REJECT and outcome.verdict.code == 554
    assert not [entry for entry in log if entry[0] == "b"]


def test_quarantine_goes_on_and_a_later_refusal_wins():
    log: list = []
    outcome = result(chain(Recorder(log, "a", quarantine("Junk")), Recorder(log, "b")))
    assert outcome.verdict.action is Action.QUARANTINE and ("b", "eom") in log
    outcome = result(chain(Recorder(log, "a", quarantine("Junk")),
                           Recorder(log, "b", reject())))
    assert outcome.verdict.action is Action.REJECT


def test_envelope_stage_stops_at_the_first_verdict():
    log: list = []
    found = []
    chain(Recorder(log, "a", reject()), Recorder(log, "b")).connect(peer()).addBoth(found.append)
    assert found[0].action is Action.REJECT and log == [("a", "connect")]


class Editor(Milter):
    def eom(self, message: MilterMessage):
        message.add_header("X-Added", "1")
        message.add_header("X-Top", "t", index=0)
        message.change_header("Subject", "changed")
        message.delete_header("X-Odd")
        message.delete_recipient("alice@example.org")
        message.add_recipient("bob@example.org")


def test_modifications_keep_the_untouched_bytes():
    outcome = result(chain(Editor()))
    assert outcome.message == (
        b"X-Top: t\r\nReceived: from a\r\n\tby b; now\r\nFrom: a@example.net\r\n"
        b"Subject: changed\r\nX-Added: 1\r\n\r\nbody line\r\n")
    assert [r.address for r in outcome.recipients] == ["bob@example.org"]


class Failing(Milter):
    def eom(self, message):
        raise RuntimeError("boom")


class Hanging(Milter):
    def eom(self, message):
        return defer.Deferred()


def test_a_failing_milter_tempfails_by_default_or_is_skipped():
    outcome = result(chain(Failing()))
    assert outcome.verdict.action is Action.TEMPFAIL and outcome.verdict.code == 451
    assert result(chain(Failing(), policy=FailurePolicy.SKIP)).verdict.action is Action.CONTINUE


def test_a_milter_that_times_out_is_handled_by_its_policy():
    clock = task.Clock()
    found = []
    chain(Hanging(), clock=clock).message(peer(), envelope(), RAW).addBoth(found.append)
    assert not found
    clock.advance(6)
    assert found[0].verdict.action is Action.TEMPFAIL
    found.clear()
    chain(Hanging(), policy=FailurePolicy.SKIP, clock=clock).message(
        peer(), envelope(), RAW).addBoth(found.append)
    clock.advance(6)
    assert found[0].verdict.action is Action.CONTINUE


def test_every_recipient_removed_means_discard():
    class Dropper(Milter):
        def eom(self, message):
            message.delete_recipient("alice@example.org")
    assert result(chain(Dropper())).verdict.action is Action.DISCARD


@pytest.mark.parametrize("entry, words", [
    ("no_such_module_here", "no module named no_such_module_here"),
    ("tests.milter.nothing_here.make", "No module named 'tests.milter.nothing_here'"),
    ("tests.milter.helpers", "has no make_milter()"),
    ("tests.milter.helpers.no_attribute", "has no callable 'no_attribute'"),
    ("inet:nohost", "expected inet:HOST:PORT"),
    ("unix:relative", "absolute path"),
])
def test_a_bad_entry_names_the_module(entry, words):
    with pytest.raises(MilterConfigError) as caught:
        resolve(entry)
    assert entry in str(caught.value) and words in str(caught.value)


def test_short_names_and_dotted_paths_resolve():
    import plugins.trackers
    assert resolve("trackers") is plugins.trackers.make_milter
    assert resolve("plugins.ipscrub.make_milter").__module__ == "plugins.ipscrub"
