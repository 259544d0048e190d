"""Per-account sending limits for submission.

Implementation notes:
- A sliding window of one hour per account, counting recipients (a message to 50 people is
  50 sends, as spam is measured). In memory, per process: several nodes each allow the limit;
  a shared counter waits for a shared store that needs one (noted in docs/smtp.md).
- `limit = 0` means no limit.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable

WINDOW = 3600.0


class RateLimiter:
    def __init__(self, per_hour: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_hour = per_hour
        self._clock = clock
        self._sent: dict[int, collections.deque[float]] = {}

    def allow(self, account_id: int, count: int = 1) -> bool:
        """Take `count` sends for the account if the window has room; False when not."""
        if not self.per_hour:
            return True
        now = self._clock()
        sent = self._sent.setdefault(account_id, collections.deque())
        while sent and sent[0] <= now - WINDOW:
            sent.popleft()
        if len(sent) + count > self.per_hour:
            return False
        sent.extend([now] * count)
        return True
