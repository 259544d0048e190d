"""dkimpy's DNS hook, answered by our `Resolver`.

Implementation notes:
- dkimpy calls `dnsfunc(name: bytes, timeout=...)` and wants the TXT record as bytes, or
  None when there is none. A temporary failure is raised as `KeyTemporarilyUnavailable`, an
  exception dkimpy does not catch, so it reaches our code and becomes "temperror" instead of
  dkimpy's silent "no key" (RFC 6376 §6.1.2: TEMPFAIL, key unavailable).
- dkimpy logs every bad signature at ERROR level; hostile mail is not an error of ours, so
  dkimpy is handed `DKIMPY_LOG`, a logger of our own that only passes CRITICAL.
- Several TXT records at a selector are not a key (RFC 6376 §3.6.2.2 lets the verifier pick;
  we take the first that starts like a key record, else the first).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from mfserver.resolver import Resolver, TemporaryDNSError

DKIMPY_LOG = logging.getLogger("mfserver.mailauth.dkimpy")
DKIMPY_LOG.setLevel(logging.CRITICAL)


class KeyTemporarilyUnavailable(Exception):
    """The key record could not be fetched now (DNS timeout or server failure)."""


def dkim_dnsfunc(resolver: Resolver) -> Callable[..., bytes | None]:
    def lookup(name: bytes, timeout: float = 5) -> bytes | None:
        text = name.decode("ascii", "replace").rstrip(".")
        try:
            records = resolver.query(text, "TXT")
        except TemporaryDNSError as exc:
            raise KeyTemporarilyUnavailable(str(exc)) from exc
        if not records:
            return None
        keys = [record for record in records if "p=" in record] or records
        return keys[0].encode("utf-8")
    return lookup
