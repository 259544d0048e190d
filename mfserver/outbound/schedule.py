"""The retry schedule and what each attempt's outcomes mean for the queue and for the sender.

Implementation notes:
- Pure functions, no I/O: given a claimed message, the outcome per recipient and the time, they
  say the new state of each recipient and which delivery status notifications to send.
- Backoff (RFC 5321 §4.5.4.1 asks for retries over at least 4-5 days): the wait after the
  n-th failed attempt is `base * 2**(n-1)`, capped at `cap`. The last attempt is placed at the
  end of the lifetime; a temporary failure at or after it fails the recipient (4.4.7).
- Notifications follow NOTIFY (RFC 3461 §4.1): FAILURE -> "failed" report; DELAY -> one
  "delayed" report once `delay_warning` has passed; SUCCESS -> a "relayed" report when the
  accepting server did not take the DSN request along. NEVER, or the null sender, -> nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mfserver.outbound import queue
from mfserver.outbound.outcome import DELIVERED, PERMANENT, Outcome
from mfserver.outbound.queue import QueuedMessage, RecipientStatus, RecipientUpdate


@dataclass(frozen=True)
class RetryPolicy:
    lifetime: int = 5 * 86400
    base: int = 300
    cap: int = 4 * 3600
    delay_warning: int = 4 * 3600

    def backoff(self, failures: int) -> int:
        """Seconds to wait after the `failures`-th failed attempt (1-based)."""
        return min(self.base * 2 ** max(failures - 1, 0), max(self.cap, self.base))


@dataclass(frozen=True)
class Report:
    """One recipient's line in a delivery status notification."""

    recipient: RecipientStatus
    outcome: Outcome
    action: str  # failed | delayed | relayed


@dataclass
class Plan:
    updates: list[RecipientUpdate] = field(default_factory=list)
    failed: list[Report] = field(default_factory=list)
    delayed: list[Report] = field(default_factory=list)
    relayed: list[Report] = field(default_factory=list)
    retry_until: int = 0

    @property
    def reports(self) -> list[list[Report]]:
        return [group for group in (self.failed, self.delayed, self.relayed) if group]


def expired_outcome(last: Outcome, lifetime: int) -> Outcome:
    days = lifetime / 86400
    span = f"{days:g} days" if days >= 1 else f"{lifetime // 60} minutes"
    return Outcome("permanent", "4.4.7", f"gave up after {span}; last error: {last.text}",
                   last.remote_mta)


def plan(message: QueuedMessage, outcomes: dict[int, Outcome], now: int,
         policy: RetryPolicy) -> Plan:
    """The new state of each recipient in `outcomes` and the notifications owed."""
    deadline = message.created_at + policy.lifetime
    result = Plan(retry_until=deadline)
    may_notify = message.sender != ""
    for recipient in message.recipients:
        outcome = outcomes.get(recipient.id)
        if outcome is None:
            continue
        wants = recipient.notify if may_notify else frozenset()
        if outcome.kind == DELIVERED:
            result.updates.append(RecipientUpdate(recipient.id, queue.DELIVERED, now,
                                                  outcome.text, outcome.remote_mta))
            if "SUCCESS" in wants and not outcome.remote_dsn:
                result.relayed.append(Report(recipient, outcome, "relayed"))
            continue
        if outcome.kind != PERMANENT and now >= deadline:
            outcome = expired_outcome(outcome, policy.lifetime)
        if outcome.kind == PERMANENT:
            result.updates.append(RecipientUpdate(recipient.id, queue.FAILED, now, outcome.text,
                                                  outcome.remote_mta))
            if "FAILURE" in wants:
                result.failed.append(Report(recipient, outcome, "failed"))
            continue
        retry_at = min(now + policy.backoff(recipient.attempts + 1), deadline)
        notify_delay = ("DELAY" in wants and not recipient.delay_notified
                        and policy.delay_warning > 0
                        and now - message.created_at >= policy.delay_warning)
        result.updates.append(RecipientUpdate(recipient.id, queue.QUEUED, retry_at, outcome.text,
                                              outcome.remote_mta,
                                              delay_notified=notify_delay))
        if notify_delay:
            result.delayed.append(Report(recipient, outcome, "delayed"))
    return result
