"""The message-wide spam rules: authentication results, DNS blocklists, header and content
heuristics. Pure except `dnsbl_listings`, which asks the resolver (blocking: thread pool).

Implementation notes:
- Each rule that fires gives a named test and a score, as SpamAssassin reports them, so
  X-Spam-Status says why. Scores are additive; negative ones are evidence of good mail.
- Authentication results are those the SMTP server computed before the chain ran
  (`Envelope.authentication`); nothing is checked twice.
- DNSBL (RFC 5782): the client's address reversed (IPv4 octets, IPv6 nibbles) under each
  zone; an A record in 127.0.0.0/8 means listed. A lookup that fails counts as not listed.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.utils import getaddresses, parseaddr
from typing import Any

from mfserver.milter.message import MilterMessage

_ADDRESS_IN_NAME = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_SHOUT = re.compile(r"[A-Z]{4,}")
_MONEY = re.compile(r"(?:\$|€|£)\s?\d{2,}|\b(?:free|winner|viagra|lottery|bitcoin|"
                    r"crypto|urgent|inheritance|click here|act now|100% free)\b",
                    re.IGNORECASE)


@dataclass
class Score:
    tests: list[tuple[str, float]] = field(default_factory=list)

    def add(self, name: str, points: float) -> None:
        self.tests.append((name, points))

    @property
    def total(self) -> float:
        return round(sum(points for _, points in self.tests), 1)

    def names(self) -> str:
        return ",".join(name for name, _ in self.tests) or "none"

    def plus(self, other: Iterable[tuple[str, float]]) -> Score:
        return Score(self.tests + list(other))


def authentication_rules(results: Any, score: Score) -> None:
    if results is None:
        return
    spf = getattr(results.spf, "result", "none")
    if spf == "fail":
        score.add("SPF_FAIL", 2.0)
    elif spf == "softfail":
        score.add("SPF_SOFTFAIL", 1.0)
    elif spf == "pass":
        score.add("SPF_PASS", -0.5)
    dkim = [result.result for result in results.dkim]
    if "pass" in dkim:
        score.add("DKIM_VALID", -0.5)
    elif "fail" in dkim:
        score.add("DKIM_INVALID", 1.5)
    else:
        score.add("DKIM_NONE", 0.3)
    dmarc = results.dmarc
    if dmarc.result == "fail":
        score.add("DMARC_FAIL", 3.0 if dmarc.policy in ("reject", "quarantine") else 1.5)
    elif dmarc.result == "pass":
        score.add("DMARC_PASS", -1.0)


def header_rules(message: MilterMessage, score: Score) -> None:
    if message.get("Date") is None:
        score.add("MISSING_DATE", 1.0)
    if message.get("Message-ID") is None:
        score.add("MISSING_MID", 1.0)
    subject = message.get("Subject") or ""
    if not subject.strip():
        score.add("EMPTY_SUBJECT", 0.5)
    letters = [c for c in subject if c.isalpha()]
    if len(letters) >= 10 and sum(c.isupper() for c in letters) > 0.7 * len(letters):
        score.add("SUBJ_ALL_CAPS", 1.0)
    if subject.count("!") >= 3:
        score.add("SUBJ_EXCLAIM", 0.8)
    name, address = parseaddr(message.get("From") or "")
    if not address or "@" not in address:
        score.add("FROM_INVALID", 2.0)
    else:
        shown = _ADDRESS_IN_NAME.search(name or "")
        if shown and shown.group(0).lower() != address.lower():
            score.add("FROM_NAME_SPOOF", 2.0)
    recipients = getaddresses(message.get_all("To") + message.get_all("Cc"))
    if len(recipients) > 50:
        score.add("MANY_RECIPIENTS", 1.0)


def content_rules(text: str, html_only: bool, score: Score) -> None:
    if html_only:
        score.add("HTML_ONLY", 0.5)
    hits = len(_MONEY.findall(text[:200_000]))
    if hits >= 3:
        score.add("SPAMMY_WORDS", min(0.5 * hits, 3.0))


def dnsbl_name(address: str, zone: str) -> str | None:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if ip.version == 4:
        reversed_part = ".".join(reversed(str(ip).split(".")))
    else:
        reversed_part = ".".join(reversed(ip.exploded.replace(":", "")))
    return f"{reversed_part}.{zone.strip('.')}"


def dnsbl_listings(resolver: Any, address: str, zones: Iterable[str]) -> list[str]:
    """The zones that list `address` (blocking)."""
    listed = []
    for zone in zones:
        name = dnsbl_name(address, zone)
        if name is None:
            continue
        try:
            answers = resolver.query(name, "A")
        except Exception:  # noqa: BLE001 - a blocklist that does not answer lists nobody
            continue
        if any(answer.startswith("127.") for answer in answers):
            listed.append(zone)
    return listed
