"""DMARC (RFC 7489): policy discovery, identifier alignment, and what to do with the message.

Implementation notes:
- Written here rather than taken from authheaders: its DMARC path has no temperror (a DNS
  failure reads as "no record"), ignores pct, treats several From fields as one, takes one
  TXT string per lookup, and re-reads the public suffix list on every call. The rules below
  are short and each cites its section.
- Policy discovery (§6.6.3): TXT at `_dmarc.<author domain>`, records not starting with
  `v=DMARC1` discarded; none left → the organizational domain's record (§3.2, public suffix
  list, offline); more than one left at the step that found any → no policy ("none").
  A record found at the organizational domain for a subdomain author applies `sp`, else `p`.
- A record whose `p` (or `sp`) is missing or invalid counts as `p=none` when it has a `rua`
  tag (§6.6.3), else it is a "permerror". Bad `adkim`/`aspf`/`pct` values take their
  defaults (§6.3: "syntax errors ... discarded in favor of default values").
- Pass (§4.2): an SPF pass whose domain is aligned (`aspf`), or a DKIM pass whose `d=` is
  aligned (`adkim`); relaxed alignment compares organizational domains (§3.1).
- A failing check whose aligned identity got a temporary error is "temperror" instead, so
  transient DNS trouble never turns into a reject.
- Authors (§6.6.1): each From address is evaluated; any failure fails the message with the
  strictest disposition among the failures. No From field, several From fields, or an
  address without a domain can never pass: without a failure they give "permerror".
- At most `MAX_AUTHOR_DOMAINS` author domains are looked up (each costs DNS queries); a
  message naming more gets "permerror" with disposition "reject", which §6.6.1 allows for
  multi-valued From fields, so hiding a domain behind many others gains nothing.
- pct (§6.6.4): a failing message gets the published disposition with probability pct/100,
  otherwise the next milder one (reject → quarantine → none). `sample` is injectable.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mfserver.mailauth.dkimcheck import DkimResult
from mfserver.mailauth.headers import Field, author_addresses, domain_of
from mfserver.mailauth.orgdomain import aligned, organizational_domain
from mfserver.mailauth.spfcheck import SpfResult
from mfserver.resolver import Resolver, TemporaryDNSError

POLICIES = ("none", "quarantine", "reject")
MAX_AUTHOR_DOMAINS = 20
_MILDER = {"reject": "quarantine", "quarantine": "none", "none": "none"}
_STRICTNESS = {policy: rank for rank, policy in enumerate(POLICIES)}
_VERSION = re.compile(r"^\s*v\s*=\s*DMARC1\s*(;|$)")


@dataclass(frozen=True)
class DmarcResult:
    result: str  # pass | fail | none | temperror | permerror
    from_domain: str  # the author domain the result is about ("" without one)
    policy: str  # the published policy that applies (p or sp), "" without a record
    disposition: str  # what the receiver should do: none | quarantine | reject
    reason: str = ""


@dataclass(frozen=True)
class DmarcRecord:
    policy: str
    subdomain_policy: str
    adkim: str = "r"
    aspf: str = "r"
    pct: int = 100


class InvalidRecord(ValueError):
    """A DMARC record without a usable policy (§6.6.3)."""


def parse_record(text: str) -> DmarcRecord:
    """The tags of one `v=DMARC1` record (§6.3); unknown tags are ignored."""
    tags: dict[str, str] = {}
    for part in text.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            tags.setdefault(name.strip().lower(), value.strip())
    policy = tags.get("p", "").lower()
    subdomain_policy = tags.get("sp", policy).lower()
    if policy not in POLICIES or subdomain_policy not in POLICIES:
        if "mailto:" not in tags.get("rua", "").lower():
            raise InvalidRecord("no valid p= or sp= policy")
        policy = subdomain_policy = "none"
    adkim = tags.get("adkim", "r").lower()
    aspf = tags.get("aspf", "r").lower()
    pct = tags.get("pct", "100")
    return DmarcRecord(policy=policy, subdomain_policy=subdomain_policy,
                       adkim=adkim if adkim in ("r", "s") else "r",
                       aspf=aspf if aspf in ("r", "s") else "r",
                       pct=int(pct) if pct.isdigit() and int(pct) <= 100 else 100)


def _records_at(resolver: Resolver, domain: str) -> list[str]:
    name = f"_dmarc.{domain}"
    if len(name) > 253:
        return []
    return [text for text in resolver.query(name, "TXT") if _VERSION.match(text)]


def discover_policy(resolver: Resolver, author_domain: str) -> tuple[DmarcRecord, str] | None:
    """The record for `author_domain` and the policy that applies to it, or None (§6.6.3).

    Raises `TemporaryDNSError` and `InvalidRecord`.
    """
    records = _records_at(resolver, author_domain)
    at_org = False
    if not records:
        org = organizational_domain(author_domain)
        if org != author_domain:
            records, at_org = _records_at(resolver, org), True
    if len(records) != 1:
        return None
    record = parse_record(records[0])
    return record, record.subdomain_policy if at_org else record.policy


def _one_author(author: str, spf: SpfResult, dkim: Sequence[DkimResult],
                resolver: Resolver, sample: Callable[[], float]) -> DmarcResult:
    try:
        found = discover_policy(resolver, author)
    except TemporaryDNSError:
        return DmarcResult("temperror", author, "", "none", "DMARC record not available now")
    except InvalidRecord as exc:
        return DmarcResult("permerror", author, "", "none", str(exc))
    if found is None:
        return DmarcResult("none", author, "", "none", "no DMARC record")
    record, policy = found
    spf_aligned = aligned(spf.domain, author, record.aspf)
    dkim_aligned = [result for result in dkim if aligned(result.domain, author, record.adkim)]
    if (spf_aligned and spf.result == "pass") or any(r.result == "pass" for r in dkim_aligned):
        return DmarcResult("pass", author, policy, "none")
    if (spf_aligned and spf.result == "temperror") or any(
            r.result == "temperror" for r in dkim_aligned):
        return DmarcResult("temperror", author, policy, "none",
                           "an aligned identity could not be checked now")
    disposition = policy if sample() * 100 < record.pct else _MILDER[policy]
    return DmarcResult("fail", author, policy, disposition, "no aligned identity passed")


def evaluate(fields: list[Field], spf: SpfResult, dkim: Sequence[DkimResult],
             resolver: Resolver, *, sample: Callable[[], float] = random.random) -> DmarcResult:
    """The DMARC result for a message with these header fields and SPF/DKIM results."""
    addresses, problem = author_addresses(fields)
    authors = list(dict.fromkeys(domain_of(address) for address in addresses))
    if len(authors) > MAX_AUTHOR_DOMAINS:
        return DmarcResult("permerror", authors[0], "", "reject",
                           f"more than {MAX_AUTHOR_DOMAINS} author domains")
    results = [_one_author(author, spf, dkim, resolver, sample) for author in authors]
    failures = [result for result in results if result.result == "fail"]
    if failures:
        return max(failures, key=lambda result: _STRICTNESS[result.disposition])
    for result in results:
        if result.result == "temperror":
            return result
    if problem:
        return DmarcResult("permerror", authors[0] if authors else "", "", "none", problem)
    for result in results:
        if result.result != "pass":
            return result
    return results[0]
