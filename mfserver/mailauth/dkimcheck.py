"""DKIM verification of every signature on a message (RFC 6376 §6, RSA and Ed25519 RFC 8463).

Implementation notes:
- Each DKIM-Signature field gets its own result, in the order of the header; a message
  without one gets none (the caller writes `dkim=none`).
- Results follow RFC 8601 §2.7.1: "pass"; "fail" when the body hash or the signature does
  not verify; "permerror" when the signature cannot be evaluated (bad tags, expired,
  unknown algorithm, missing or unusable key, key too small); "temperror" when the key could
  not be fetched now.
- Keys come only through the given `Resolver` (dnsbridge). dkimpy's `verify_sig` would turn
  a missing key into plain False, so the key is loaded here and the signature checked with
  dkimpy's `verify_sig_process`.
- At most `MAX_SIGNATURES` signatures are verified, the topmost ones (RFC 6376 §6.1 lets a
  verifier limit them): each costs a DNS lookup and a hash of the message. The rest are not
  reported.
- Nothing raises: any unexpected error in dkimpy on hostile input becomes "permerror".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import dkim
from dkim.util import parse_tag_value

from mfserver.mailauth.dnsbridge import DKIMPY_LOG, KeyTemporarilyUnavailable, dkim_dnsfunc
from mfserver.mailauth.headers import ascii_domain, split_header
from mfserver.resolver import Resolver

MINIMUM_RSA_BITS = 1024
MAX_SIGNATURES = 10


@dataclass(frozen=True)
class DkimResult:
    """The outcome for one DKIM-Signature field."""

    result: str  # pass | fail | permerror | temperror
    domain: str  # d=, in A-labels ("" when unreadable)
    selector: str  # s=
    algorithm: str  # a=
    b_prefix: str  # first 8 characters of b= (RFC 6008 header.b)
    reason: str = ""


def _tags(value: bytes) -> dict[bytes, bytes]:
    try:
        return parse_tag_value(value)
    except Exception:  # any unparsable tag list
        return {}


def _text(value: bytes, allowed: str) -> str:
    text = value.decode("ascii", "replace")
    return "".join(char for char in text if re.match(allowed, char))


def _describe(tags: dict[bytes, bytes], result: str, reason: str) -> DkimResult:
    return DkimResult(
        result=result,
        domain=ascii_domain(tags.get(b"d", b"").decode("utf-8", "replace")),
        selector=_text(tags.get(b"s", b""), r"[A-Za-z0-9._-]")[:64],
        algorithm=_text(tags.get(b"a", b""), r"[a-z0-9-]")[:32],
        b_prefix=_text(re.sub(rb"\s+", b"", tags.get(b"b", b"")), r"[A-Za-z0-9+/]")[:8],
        reason=reason,
    )


class _Verifier(dkim.DKIM):
    """dkimpy's verifier with the key lookup's outcome kept apart from the signature's."""

    def check(self, index: int, dnsfunc: object) -> tuple[str, str]:
        try:
            prepared = self.verify_headerprep(index)
        except dkim.DKIMException as exc:
            return "permerror", f"bad signature field: {exc}"
        if not prepared:
            return "permerror", "signature field not found"
        sig, include_headers, sig_headers = prepared
        name = sig[b"s"] + b"._domainkey." + sig[b"d"] + b"."
        try:
            self.pk, self.keysize, self.ktag, self.seqtlsrpt = dkim.load_pk_from_dns(
                name, dnsfunc, timeout=self.timeout)
        except KeyTemporarilyUnavailable:
            return "temperror", "key not available now"
        except dkim.KeyFormatError as exc:
            reason = "no key" if "missing public key" in str(exc) else "unusable key"
            return "permerror", reason
        try:
            valid = self.verify_sig_process(sig, include_headers, sig_headers[index], dnsfunc)
        except dkim.ValidationError as exc:
            return "fail", "body hash mismatch" if "body hash" in str(exc) else "invalid"
        except dkim.KeyFormatError as exc:
            return "permerror", "key too small" if "too small" in str(exc) else "unusable key"
        return ("pass", "") if valid else ("fail", "signature did not verify")


def verify_signatures(message: bytes, resolver: Resolver) -> list[DkimResult]:
    """One `DkimResult` per DKIM-Signature field of `message`."""
    try:
        verifier = _Verifier(message, logger=DKIMPY_LOG, minkey=MINIMUM_RSA_BITS)
    except Exception:  # dkimpy's header parser rejects the message: nothing verifies
        fields, _ = split_header(message)
        return [_describe(_tags(field.raw.split(b":", 1)[1]), "permerror", "malformed header")
                for field in fields if field.name == "dkim-signature"][:MAX_SIGNATURES]
    values = [value for name, value in verifier.headers if name.lower() == b"dkim-signature"]
    dnsfunc = dkim_dnsfunc(resolver)
    results = []
    for index, value in enumerate(values[:MAX_SIGNATURES]):
        tags = _tags(value)
        try:
            result, reason = verifier.check(index, dnsfunc)
        except Exception as exc:  # hostile input dkimpy did not foresee
            result, reason = "permerror", f"unverifiable: {type(exc).__name__}"
        results.append(_describe(tags, result, reason))
    return results
