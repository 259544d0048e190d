"""spam (inbound): a score per recipient account; headers, Junk, or refusal at SMTP.

Implementation notes:
- The message-wide part of the score (authentication results, DNSBL, header and content
  rules: rules.py) is computed once; each recipient account adds its own Bayesian score
  (mfserver.filters.bayes) and its allow/block lists decide first:
  allowed sender (envelope or From address, or their domain) -> never junked, never refused;
  blocked sender -> into Junk, or that recipient is dropped when the account chose `reject`
  (a message left with no recipient is refused with 550 5.7.1).
- Thresholds come from `[spam]`: from `junk_score` on the copy goes into Junk; from
  `reject_score` on (when every recipient would refuse and none allows the sender) the message
  is refused at SMTP with 550 5.7.1, before anything is stored.
- X-Spam-Score / X-Spam-Status (the highest score among the recipients, and its tests) replace
  any such fields the sender put in; they go right below the trace fields on top, so the header and
  body the sender wrote (and signed) keep their order and bytes.
- All database and DNS work runs in the thread pool. Learning (`filed`) happens when a user
  moves or copies messages into Junk (junk) or out of Junk into another folder other than
  Trash (not junk), reported by the IMAP server after the store committed the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

from twisted.logger import Logger

from mfserver.filters import ALLOW, BLOCK, Bayes, FilterLists
from mfserver.milter.api import Direction, Milter, Verdict, reject
from mfserver.milter.config import MilterTools
from mfserver.milter.message import MilterMessage
from plugins.spam.rules import (
    Score,
    authentication_rules,
    content_rules,
    dnsbl_listings,
    header_rules,
)

log = Logger()

JUNK, TRASH = "Junk", "Trash"
STATUS_FIELDS = ("X-Spam-Score", "X-Spam-Status", "X-Spam-Flag", "X-Spam-Level")
REJECTED = reject(550, "Message refused as spam", "5.7.1")
BLOCKED = reject(550, "Sender blocked by the recipient", "5.7.1")


@dataclass
class Thresholds:
    junk: float = 5.0
    reject: float = 15.0   # 0: never
    dnsbl_score: float = 3.0


@dataclass
class Decision:
    score: Score
    outcome: str           # ok | junk | reject | allowed | blocked-junk | blocked-reject


class Spam(Milter):
    directions = frozenset({Direction.INBOUND})

    def __init__(self, lists: FilterLists, bayes: Bayes, store: Any, run_blocking: Any,
                 resolver: Any = None, dnsbl: tuple[str, ...] = (),
                 thresholds: Thresholds | None = None, add_headers: bool = True) -> None:
        self.lists = lists
        self.bayes = bayes
        self.store = store
        self.run_blocking = run_blocking
        self.resolver = resolver
        self.dnsbl = dnsbl
        self.thresholds = thresholds or Thresholds()
        self.add_headers = add_headers

    # -- judging ----------------------------------------------------------------------------

    def eom(self, message: MilterMessage) -> Any:
        return self.run_blocking(self.judge, message).addCallback(
            lambda decisions: self.apply(message, decisions))

    def base_score(self, message: MilterMessage) -> Score:
        score = Score()
        authentication_rules(message.envelope.authentication, score)
        header_rules(message, score)
        text, html_only = _text_of(message)
        content_rules(text, html_only, score)
        if self.dnsbl and self.resolver is not None:
            for zone in dnsbl_listings(self.resolver, message.peer.address, self.dnsbl):
                score.add(f"DNSBL_{zone}", self.thresholds.dnsbl_score)
        return score

    def judge(self, message: MilterMessage) -> dict[int, Decision]:
        """Blocking: each recipient account's decision."""
        base = self.base_score(message)
        senders = [address for address in (message.envelope.mail_from,
                                           parseaddr(message.get("From") or "")[1]) if address]
        raw = message.as_bytes()
        decisions = {}
        for account in message.account_ids:
            settings = self.lists.settings(account)
            if settings["spam"] == "off":
                decisions[account] = Decision(base, "allowed")
                continue
            listed = [self.lists.match(account, sender) for sender in senders]
            score = base
            probability = self.bayes.probability(account, raw)
            if probability is not None:
                score = base.plus([(f"BAYES_{int(probability * 100):02d}",
                                    round((probability - 0.5) * 10, 1))])
            if ALLOW in listed:
                decisions[account] = Decision(score.plus([("USER_ALLOWED", -100.0)]),
                                              "allowed")
            elif BLOCK in listed:
                decisions[account] = Decision(score.plus([("USER_BLOCKED", 100.0)]),
                                              f"blocked-{settings['blocked']}")
            elif self.thresholds.reject and score.total >= self.thresholds.reject:
                decisions[account] = Decision(score, "reject")
            elif score.total >= self.thresholds.junk:
                decisions[account] = Decision(score, "junk")
            else:
                decisions[account] = Decision(score, "ok")
        if not decisions:
            decisions[0] = Decision(base, "ok")
        return decisions

    def apply(self, message: MilterMessage, decisions: dict[int, Decision]) -> Verdict | None:
        outcomes = {decision.outcome for decision in decisions.values()}
        if outcomes == {"reject"}:
            return REJECTED
        for recipient in list(message.recipients):
            decision = decisions.get(recipient.account_id or 0)
            if decision is None:
                continue
            if decision.outcome == "blocked-reject":
                message.delete_recipient(recipient.address)
            elif decision.outcome in ("junk", "reject", "blocked-junk"):
                message.file_into(recipient, JUNK)
        if not message.recipients:
            return BLOCKED
        if self.add_headers:
            self._mark(message, max(decisions.values(), key=lambda d: d.score.total))
        return None

    def _mark(self, message: MilterMessage, decision: Decision) -> None:
        for name in STATUS_FIELDS:
            message.delete_header(name)
        score = decision.score
        spam = decision.outcome in ("junk", "reject", "blocked-junk", "blocked-reject")
        message.add_header("X-Spam-Status", f"{'Yes' if spam else 'No'}, "
                           f"score={score.total:.1f} required={self.thresholds.junk:.1f} "
                           f"tests={score.names()}", index=_below_trace(message))
        message.add_header("X-Spam-Score", f"{score.total:.1f}", index=_below_trace(message))

    # -- learning ---------------------------------------------------------------------------

    def filed(self, account_id: int, source: str, target: str, target_id: int,
              uids: list[int]) -> Any:
        """A user moved or copied `uids` (now in `target`) from `source`: learn from it."""
        if target == JUNK and source != JUNK:
            spam = True
        elif source == JUNK and target not in (JUNK, TRASH):
            spam = False
        else:
            return None
        return self.run_blocking(self._learn, account_id, target_id, uids, spam).addErrback(
            lambda failure: log.failure("spam: learning failed", failure))

    def _learn(self, account_id: int, folder_id: int, uids: list[int], spam: bool) -> int:
        for uid in uids:
            self.bayes.learn(account_id, self.store.read_message(account_id, folder_id, uid),
                             spam)
        return len(uids)


def _below_trace(message: MilterMessage) -> int:
    """The index just below the trace fields on top (our Received, Authentication-Results)."""
    for index, (name, _) in enumerate(message.headers):
        if name.lower() not in ("received", "authentication-results", "return-path"):
            return index
    return len(message.fields)


def _text_of(message: MilterMessage) -> tuple[str, bool]:
    parsed = message.parsed
    texts, kinds = [], set()
    for part in parsed.walk():
        if part.get_content_maintype() != "text":
            continue
        kinds.add(part.get_content_subtype())
        try:
            texts.append(str(part.get_content())[:100_000])
        except (LookupError, ValueError, AssertionError):
            continue
    return " ".join(texts), kinds == {"html"}


def make_milter(tools: MilterTools) -> Spam:
    section = tools.settings.spam
    database = tools.runtime.database
    return Spam(FilterLists(database), Bayes(database, section.bayes_min_messages),
                tools.runtime.store, tools.run_blocking, tools.resolver, tuple(section.dnsbl),
                Thresholds(section.junk_score, section.reject_score, section.dnsbl_score),
                section.add_headers)
