"""Slowing down password guessing without locking the owner out.

Implementation notes:
- Failures are counted per source (client address) and per account key (the login as typed,
  lowercased). Past a threshold, each further failure doubles the time before the next attempt
  may be checked: 1 s, 2 s, 4 s… capped at `max_delay`. Attempts made while a delay runs are
  refused unchecked and do not count, so the delay never grows by itself.
- Past its threshold a key allows one attempt per wait even when attempts arrive in parallel:
  letting one through starts the next wait at once (`delay` reserves the slot), so opening
  many connections and guessing on all of them at the same moment gains nothing. Below the
  threshold (decay included) parallel logins, like a mail client's several connections, are
  not held back.
- Counters decay: they halve every `half_life` seconds, so nobody stays throttled for good.
- The per-source threshold is the tighter one: a single attacker is slowed down long before
  the account's own counter matters, and the account counter only grows at the rate the
  attacker's throttled source allows. On top of that a source that logged into an account
  successfully is trusted for that account for `trusted_for` seconds: the account counter does
  not apply to it, only its own source counter. So the owner, from where they usually log in,
  is not slowed down by an attack from anywhere else, and from a new place waits at most
  `max_delay` per attempt.
- IPv6 sources are counted per /64 (one subscriber's usual allocation), IPv4-mapped IPv6 as
  IPv4: rotating addresses inside one's own prefix does not reset the count.
- Memory is bounded: at most `max_entries` counters and as many trusted pairs; the least
  recently touched go first. Source addresses live in memory only and are never logged.
- Thread-safe (one lock), though the checker calls it from the reactor thread only.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

_NEGLIGIBLE = 0.05  # a decayed count below this is forgotten


@dataclass
class _Counter:
    count: float
    last: float  # clock value of the last failure
    hold_until: float = 0.0  # an attempt is under way: others wait until then


def source_key(source: str | None) -> str | None:
    """The key a client address is counted under: IPv6 by /64, IPv4-mapped as IPv4."""
    if source is None:
        return None
    try:
        address = ipaddress.ip_address(source.split("%", 1)[0])
    except ValueError:
        return source
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class Throttle:
    """Failure counters with exponential backoff; see the module notes."""

    def __init__(self, failures_per_source: int, failures_per_account: int, max_delay: float,
                 clock: Callable[[], float] = time.monotonic, *, base_delay: float = 1.0,
                 half_life: float = 900.0, trusted_for: float = 30 * 86_400.0,
                 max_entries: int = 100_000) -> None:
        if failures_per_source < 1 or failures_per_account < 1:
            raise ValueError("failure thresholds must be at least 1")
        if max_delay < 0 or base_delay <= 0 or half_life <= 0 or max_entries < 1:
            raise ValueError("delays, half-life and size must be positive")
        self.failures_per_source = failures_per_source
        self.failures_per_account = failures_per_account
        self.max_delay = max_delay
        self.base_delay = base_delay
        self.half_life = half_life
        self.trusted_for = trusted_for
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._counters: OrderedDict[tuple[str, str], _Counter] = OrderedDict()
        self._trusted: OrderedDict[tuple[str, str], float] = OrderedDict()

    def delay(self, account_key: str, source: str | None) -> float:
        """Seconds to wait before an attempt for `account_key` from `source` may be checked
        (0: check it now)."""
        account, src = account_key.lower(), source_key(source)
        now = self._clock()
        with self._lock:
            checks = []
            if src is not None:
                checks.append((("source", src), self.failures_per_source))
            if not self._is_trusted(account, src, now):
                checks.append((("account", account), self.failures_per_account))
            wait = max((self._wait(key, threshold, now) for key, threshold in checks),
                       default=0.0)
            if wait == 0:
                for key, threshold in checks:
                    self._reserve(key, threshold, now)
            return wait

    def failure(self, account_key: str, source: str | None) -> None:
        """Record a failed attempt that was checked."""
        account, src = account_key.lower(), source_key(source)
        now = self._clock()
        with self._lock:
            self._add(("account", account), now)
            if src is not None:
                self._add(("source", src), now)

    def success(self, account_key: str, source: str | None) -> None:
        """Record a successful login: forget the source's failures, halve the account's, and
        trust the source for this account from now on."""
        account, src = account_key.lower(), source_key(source)
        now = self._clock()
        with self._lock:
            counter = self._counters.get(("account", account))
            if counter is not None:
                counter.count = self._decayed(counter, now) / 2
                counter.last = now
                counter.hold_until = 0.0
                if counter.count < _NEGLIGIBLE:
                    del self._counters[("account", account)]
            if src is not None:
                self._counters.pop(("source", src), None)
                self._trusted[(account, src)] = now
                self._trusted.move_to_end((account, src))
                while len(self._trusted) > self.max_entries:
                    self._trusted.popitem(last=False)

    def tracked(self) -> int:
        """How many counters and trusted pairs are held (for tests and metrics)."""
        with self._lock:
            return len(self._counters) + len(self._trusted)

    # -- internals, called with the lock held ----------------------------------------------------

    def _decayed(self, counter: _Counter, now: float) -> float:
        elapsed = max(0.0, now - counter.last)
        return counter.count * 0.5 ** (elapsed / self.half_life)

    def _add(self, key: tuple[str, str], now: float) -> None:
        counter = self._counters.get(key)
        if counter is None:
            self._counters[key] = _Counter(1.0, now)
            while len(self._counters) > self.max_entries:
                self._counters.popitem(last=False)
            return
        counter.count = self._decayed(counter, now) + 1
        counter.last = now
        self._counters.move_to_end(key)

    def _wait(self, key: tuple[str, str], threshold: int, now: float) -> float:
        counter = self._counters.get(key)
        if counter is None:
            return 0.0
        if counter.count < threshold:
            if self._decayed(counter, now) < _NEGLIGIBLE:
                del self._counters[key]
            return 0.0
        until = max(counter.last + self._backoff(counter.count, threshold), counter.hold_until)
        return max(0.0, until - now)

    def _backoff(self, count: float, threshold: int) -> float:
        return min(self.max_delay, self.base_delay * 2.0 ** min(count - threshold, 64))

    def _reserve(self, key: tuple[str, str], threshold: int, now: float) -> None:
        """An attempt goes ahead for a key past its threshold: start its next wait now, so
        that attempts made in parallel (before this one's result is known) wait too."""
        counter = self._counters.get(key)
        if counter is not None:
            decayed = self._decayed(counter, now)
            if decayed >= threshold:
                counter.hold_until = now + self._backoff(decayed, threshold)

    def _is_trusted(self, account: str, src: str | None, now: float) -> bool:
        if src is None:
            return False
        since = self._trusted.get((account, src))
        if since is None:
            return False
        if now - since > self.trusted_for:
            del self._trusted[(account, src)]
            return False
        return True
