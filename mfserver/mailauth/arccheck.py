"""ARC chain validation (RFC 8617 §5.2) with dkimpy, keys through our `Resolver`.

Implementation notes:
- The result is the chain validation status: "pass", "fail" or "none" (no ARC sets), the
  only values RFC 8617 §10.1 registers for `arc=`. A chain whose last seal says cv=fail is
  "fail"; so is a chain whose keys could not be fetched (the reason says so): ARC results
  are advice for local policy, never a reason to reject on their own.
- ARC fields that dkimpy cannot even number (no i= tag) make a broken chain: "fail".
- Nothing raises: dkimpy's own errors and anything unforeseen become "fail" with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import dkim

from mfserver.mailauth.dnsbridge import DKIMPY_LOG, KeyTemporarilyUnavailable, dkim_dnsfunc
from mfserver.mailauth.headers import split_header
from mfserver.resolver import Resolver

ARC_FIELDS = ("arc-seal", "arc-message-signature", "arc-authentication-results")


@dataclass(frozen=True)
class ArcResult:
    result: str  # pass | fail | none
    reason: str = ""


def verify_chain(message: bytes, resolver: Resolver) -> ArcResult:
    """The validation status of the message's ARC chain."""
    fields, _ = split_header(message)
    if not any(field.name in ARC_FIELDS for field in fields):
        return ArcResult("none")
    try:
        status, _sets, reason = dkim.arc_verify(message, logger=DKIMPY_LOG,
                                                dnsfunc=dkim_dnsfunc(resolver))
    except KeyTemporarilyUnavailable:
        return ArcResult("fail", "key not available now")
    except Exception as exc:  # hostile input dkimpy did not foresee
        return ArcResult("fail", f"unverifiable: {type(exc).__name__}")
    if status == dkim.CV_Pass:
        return ArcResult("pass")
    if status == dkim.CV_None:
        return ArcResult("fail", "ARC fields without instance numbers")
    return ArcResult("fail", str(reason))
