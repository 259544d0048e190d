"""From milter verdicts to SMTP replies.

Implementation notes:
- REJECT and TEMPFAIL keep the code and text a milter chose when they are of the right
  class (5xx / 4xx); otherwise the standard 550 5.7.1 / 451 4.7.1 is used, so a milter can
  never make a refusal look like success.
- CONTINUE, ACCEPT, DISCARD and QUARANTINE are not refusals at the envelope stages.
"""

from __future__ import annotations

from mfserver.milter import Action, Verdict
from mfserver.smtp.codes import Reply

REJECTED = Reply(550, "5.7.1", "Rejected by policy")
TEMPFAILED = Reply(451, "4.7.1", "Temporarily refused by policy; try again later")


def refusal(verdict: Verdict) -> Reply | None:
    """The reply that refuses, or None when the verdict lets the command through."""
    if verdict.action is Action.REJECT:
        return _reply(verdict, REJECTED, 500)
    if verdict.action is Action.TEMPFAIL:
        return _reply(verdict, TEMPFAILED, 400)
    return None


def _reply(verdict: Verdict, default: Reply, klass: int) -> Reply:
    code = verdict.code if verdict.code and klass <= verdict.code < klass + 100 else default.code
    enhanced = verdict.enhanced or default.enhanced
    if enhanced and not enhanced.startswith(str(klass // 100) + "."):
        enhanced = default.enhanced
    return Reply(code, enhanced, verdict.text or default.text)


