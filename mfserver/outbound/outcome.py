"""What one delivery attempt did for one recipient: delivered, a temporary or a permanent failure.

Implementation notes:
- Every outcome carries an enhanced status code (RFC 3463) and a one-line diagnostic. When the
  diagnostic is a remote server's reply, `remote_mta` names that server and the DSN says
  `Diagnostic-Code: smtp; ...`; our own reasons (null MX, no 8BITMIME) say `X-mfserver; ...`.
- `remote_dsn` records that the remote server accepted our DSN parameters (RFC 3461 §5.2.2):
  then it, not we, reports success, so no "relayed" notice goes out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DELIVERED, TEMPORARY, PERMANENT = "delivered", "temporary", "permanent"
_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})\b")


def clean(text: str, limit: int = 900) -> str:
    """One header-safe line: control characters become spaces, the length is bounded."""
    return re.sub(r"[\x00-\x1f\x7f]+", " ", text).strip()[:limit]


@dataclass(frozen=True)
class Outcome:
    kind: str  # delivered | temporary | permanent
    status: str  # enhanced status code, e.g. "5.1.1"
    text: str  # the remote reply ("550 5.1.1 no such user") or our own reason
    remote_mta: str | None = None  # the host that answered, when the text is its reply
    remote_dsn: bool = False

    @property
    def from_remote(self) -> bool:
        return self.remote_mta is not None

    @classmethod
    def temporary(cls, status: str, text: str) -> Outcome:
        return cls(TEMPORARY, status, clean(text))

    @classmethod
    def permanent(cls, status: str, text: str) -> Outcome:
        return cls(PERMANENT, status, clean(text))

    @classmethod
    def from_reply(cls, code: int, text: str, remote_mta: str, remote_dsn: bool = False,
                   ) -> Outcome:
        """The outcome a server's reply means: 2xx delivered, 5xx permanent, else temporary
        (a 3xx where none belongs is the server's confusion, not a verdict)."""
        kind = DELIVERED if 200 <= code < 300 else PERMANENT if 500 <= code < 600 else TEMPORARY
        match = _ENHANCED.match(text)
        if match and match.group(1) == str(code)[0]:
            status = match.group(0)
        else:
            status = {DELIVERED: "2.0.0", TEMPORARY: "4.0.0", PERMANENT: "5.0.0"}[kind]
        return cls(kind, status, clean(f"{code} {text}"), remote_mta, remote_dsn)
