"""Where mail for a domain goes: its MX hosts in order, with their addresses (RFC 5321 §5.1).

Implementation notes:
- Blocking (DNS through `mfserver.resolver.Resolver`): the runner calls `mx_hosts()` in the
  thread pool.
- MX records are sorted by preference; hosts of equal preference are shuffled (§5.1). With no
  MX the domain itself is the one host (the "implicit MX"), if it has A/AAAA records.
- A null MX (RFC 7505: the single record "0 .") means the domain takes no mail: a permanent
  failure, 5.1.10. No MX and no address: permanent, 5.1.2. A DNS timeout: temporary, 4.4.3.
- Each host's addresses: A first, then AAAA (many hosts have no working IPv6 route; a dead
  IPv6 address would cost a connect timeout on every attempt). At most `MAX_ADDRESSES` in all.
- A domain literal (`user@[192.0.2.1]`) is its own address (RFC 5321 §4.1.3).
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass

import idna

from mfserver.outbound.outcome import Outcome
from mfserver.resolver import Resolver, TemporaryDNSError

MAX_ADDRESSES = 10


class RouteFailure(Exception):
    """No host can be tried; `outcome` says whether to retry (temporary) or bounce."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.text)
        self.outcome = outcome


@dataclass(frozen=True)
class Host:
    name: str  # the MX host name (or the domain itself, or an address literal)
    addresses: tuple[str, ...]
    preference: int = 0


def ascii_domain(domain: str) -> str:
    """The domain as DNS knows it (IDNA A-labels), lower case, without a trailing dot."""
    domain = domain.strip().rstrip(".").lower()
    if domain.isascii():
        return domain
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise RouteFailure(Outcome.permanent("5.1.2", f"bad domain {domain!r}: {exc}")) \
            from None


def _literal(domain: str) -> Host | None:
    if not (domain.startswith("[") and domain.endswith("]")):
        return None
    text = domain[1:-1]
    if text.lower().startswith("ipv6:"):
        text = text[5:]
    try:
        return Host(domain, (str(ipaddress.ip_address(text)),))
    except ValueError:
        raise RouteFailure(Outcome.permanent("5.1.2", f"bad address literal {domain}")) \
            from None


def addresses(resolver: Resolver, name: str) -> tuple[str, ...]:
    """A then AAAA addresses of `name` (an IP address is its own)."""
    try:
        return (str(ipaddress.ip_address(name)),)
    except ValueError:
        pass
    return tuple(resolver.query(name, "A") + resolver.query(name, "AAAA"))


def _addresses_or_retry(resolver: Resolver, name: str, what: str) -> tuple[str, ...]:
    try:
        return addresses(resolver, name)
    except TemporaryDNSError as exc:
        raise RouteFailure(Outcome.temporary("4.4.3", f"{what} lookup failed: {exc}")) \
            from None


def _parse_mx(records: list[str]) -> list[tuple[int, str]]:
    result = []
    for record in records:
        preference, _, host = record.strip().partition(" ")
        if preference.isdigit():
            result.append((int(preference), host.strip().rstrip(".").lower()))
    return result


def mx_hosts(resolver: Resolver, domain: str, shuffle: random.Random | None = None,
             ) -> list[Host]:
    """The hosts to try for `domain`, best first; `RouteFailure` when there are none."""
    literal = _literal(domain)
    if literal is not None:
        return [literal]
    name = ascii_domain(domain)
    try:
        records = _parse_mx(resolver.query(name, "MX"))
    except TemporaryDNSError as exc:
        raise RouteFailure(Outcome.temporary("4.4.3", f"MX lookup failed: {exc}")) from None
    if len(records) == 1 and records[0][1] in ("", "."):
        raise RouteFailure(Outcome.permanent(
            "5.1.10", f"{name} does not accept mail (null MX, RFC 7505)"))
    records = [(preference, host) for preference, host in records if host not in ("", ".")]
    if not records:
        found = _addresses_or_retry(resolver, name, "address")
        if not found:
            raise RouteFailure(Outcome.permanent(
                "5.1.2", f"{name} has no MX and no address records"))
        return [Host(name, found[:MAX_ADDRESSES])]
    rng = shuffle or random.Random()
    rng.shuffle(records)
    records.sort(key=lambda record: record[0])  # stable: equal preferences stay shuffled
    hosts, budget, trouble = [], MAX_ADDRESSES, None
    for preference, host in records:
        if budget <= 0:
            break
        try:
            found = addresses(resolver, host)[:budget]
        except TemporaryDNSError as exc:
            trouble = str(exc)
            continue
        if found:
            hosts.append(Host(host, found, preference))
            budget -= len(found)
    if not hosts:
        reason = trouble or "none of them has an address"
        raise RouteFailure(Outcome.temporary("4.4.3", f"MX hosts of {name}: {reason}"))
    return hosts


def smarthost(resolver: Resolver, spec: str) -> Host:
    """The configured "HOST:PORT" relay, resolved (the port is the caller's business)."""
    host = spec.rpartition(":")[0].strip("[]")
    found = _addresses_or_retry(resolver, host, "smarthost")
    if not found:
        raise RouteFailure(Outcome.temporary("4.4.3", f"smarthost {host} has no address"))
    return Host(host, found[:MAX_ADDRESSES])


def smarthost_port(spec: str) -> int:
    return int(spec.rpartition(":")[2])
