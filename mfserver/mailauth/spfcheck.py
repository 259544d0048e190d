"""SPF (RFC 7208) with pyspf, every lookup through our `Resolver`.

Implementation notes:
- pyspf has no per-call DNS hook; its module-level `DNSLookup` is a global that a swap
  would change for every thread at once. Instead `_ResolverQuery` subclasses `spf.query` and
  overrides its one DNS entry point, `dns()`, so each check uses its own resolver and nothing
  global changes. pyspf's evaluation (mechanisms, macros, the 10-lookup limit of §4.6.4,
  include/redirect) is untouched.
- The override keeps what `spf.query.dns()` promised its callers: names checked for empty or
  over-long labels, answers cached for the one check, empty answers counted as void lookups
  (more than two is a permerror, §4.6.4). The resolver follows CNAMEs itself. TXT answers are
  given as lists of byte strings, MX as (preference, host), A/AAAA/PTR as text; the obsolete
  SPF RR type (99) is never asked (§3.1).
- The MAIL FROM identity is checked (§2.4); with a null reverse-path the HELO identity is
  checked as `postmaster@<helo>` (§2.3), and `SpfResult.identity` says which.
- The explanation pyspf gives may expand macros such as %{i} (the client's address), so it
  is kept for logs in `explanation` and never put in a header.
"""

from __future__ import annotations

from dataclasses import dataclass

import spf

from mfserver.mailauth.headers import ascii_domain, domain_of
from mfserver.resolver import Resolver, TemporaryDNSError

RESULTS = ("pass", "fail", "softfail", "neutral", "none", "temperror", "permerror")


@dataclass(frozen=True)
class SpfResult:
    result: str  # one of RESULTS
    identity: str  # "mailfrom" | "helo"
    domain: str  # the domain checked, in A-labels ("" when it was not a domain name)
    explanation: str = ""


class _ResolverQuery(spf.query):
    """An `spf.query` whose DNS questions go to one `Resolver`."""

    def __init__(self, resolver: Resolver, **kwargs: object) -> None:
        self._resolver = resolver
        super().__init__(**kwargs)

    def dns(self, name, qtype, cnames=None, ignore_void=False):  # noqa: ANN001, ANN201
        if not name:
            raise spf.PermError("empty domain name in lookup")
        name = str(name).rstrip(".").lower()
        if not all(0 < len(label) < 64 for label in name.split(".")):
            return []
        key = (name, qtype)
        if key not in self.cache:
            self.cache[key] = self._ask(name, qtype)
        result = self.cache[key]
        if not result and not ignore_void:
            self.void_lookups += 1
            if self.void_lookups > spf.MAX_VOID_LOOKUPS:
                raise spf.PermError(f"Void lookup limit of {spf.MAX_VOID_LOOKUPS} exceeded")
        return list(result)

    def _ask(self, name: str, qtype: str) -> list:
        if qtype == "SPF":
            return []
        try:
            answers = self._resolver.query(name, qtype)
        except TemporaryDNSError as exc:
            raise spf.TempError(f"DNS {exc}") from exc
        if qtype == "TXT":
            return [[answer.encode("utf-8")] for answer in answers]
        if qtype == "MX":
            return [_mx(answer) for answer in answers if _mx(answer)]
        return list(answers)


def _mx(answer: str) -> tuple[int, str] | None:
    parts = answer.split()
    if len(parts) != 2 or not parts[0].isdigit():
        return None
    return int(parts[0]), parts[1]


def check_host(resolver: Resolver, *, client_ip: str, helo: str, mail_from: str) -> SpfResult:
    """The SPF result for the MAIL FROM identity, or for HELO when MAIL FROM is null."""
    helo = helo.strip()
    if mail_from:
        identity, domain = "mailfrom", domain_of(mail_from)
    else:
        identity, domain = "helo", ascii_domain(helo)
    if not domain:
        # §4.3: a malformed or non-FQDN domain gives "none".
        return SpfResult("none", identity, "", "no domain to check")
    local = mail_from.rsplit("@", 1)[0]
    if not local or "@" in local:  # §4.3; a quoted local part with "@" would confuse pyspf
        local = "postmaster"
    sender = f"{local}@{domain}" if mail_from else ""
    try:
        query = _ResolverQuery(resolver, i=client_ip, s=sender, h=helo or domain)
        result, _code, explanation = query.check()
    except spf.PermError as exc:  # a client address pyspf cannot read
        return SpfResult("permerror", identity, domain, str(exc))
    except Exception as exc:  # hostile input pyspf did not foresee
        return SpfResult("permerror", identity, domain, f"{type(exc).__name__}: {exc}")
    if result not in RESULTS:
        result = "permerror"
    return SpfResult(result, identity, domain, str(explanation))
