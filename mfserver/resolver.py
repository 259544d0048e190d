"""The one DNS resolver every mail check goes through, and a fixed one for tests.

Implementation notes:
- Every lookup here blocks (dnspython); callers run them in the blocking thread pool, never on
  the reactor thread.
- A name that does not exist and a name without records of the type both answer an empty list
  (RFC 7208 §5 and RFC 7489 §6.6.3 treat them alike); a timeout or a server failure raises
  `TemporaryDNSError`, which callers turn into a temporary result (4xx, "temperror").
- `StaticResolver` is the outside world in tests: fixed records, no network. It is not a mock
  of our code; it stands where the Internet's DNS would.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Protocol

import dns.exception
import dns.name
import dns.resolver
import dns.reversename

if TYPE_CHECKING:
    from mfserver.config import Settings

RECORD_TYPES = ("A", "AAAA", "MX", "TXT", "PTR", "CNAME", "TLSA")


class TemporaryDNSError(Exception):
    """The answer could not be had now (timeout, SERVFAIL); try again later."""


class Resolver(Protocol):
    """Answers DNS questions with plain Python values.

    `query(name, "TXT")` gives each TXT record as one `str` (its strings joined);
    `query(name, "MX")` gives `"PREFERENCE HOST"` strings; A/AAAA give addresses; PTR and CNAME
    give host names without the trailing dot. Names are given and answered without the trailing
    dot, in lower case.
    """

    def query(self, name: str, rtype: str) -> list[str]: ...


def _bare(name: str) -> str:
    return name.rstrip(".").lower()


def reverse_name(address: str) -> str:
    """The PTR name of an IP address (`4.3.2.1.in-addr.arpa`)."""
    return _bare(dns.reversename.from_address(str(ipaddress.ip_address(address))).to_text())


class SystemResolver:
    """The machine's resolver (/etc/resolv.conf) or the given name servers, through dnspython."""

    def __init__(self, nameservers: Iterable[str] = (), timeout: float = 5.0,
                 port: int = 53) -> None:
        self._resolver = dns.resolver.Resolver(configure=not nameservers)
        if nameservers:
            self._resolver.nameservers = list(nameservers)
        self._resolver.port = port
        self._resolver.lifetime = timeout

    def query(self, name: str, rtype: str) -> list[str]:
        if rtype not in RECORD_TYPES:
            raise ValueError(f"unsupported record type {rtype}")
        try:
            answer = self._resolver.resolve(name, rtype, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except (dns.exception.Timeout, dns.resolver.NoNameservers,
                dns.resolver.LifetimeTimeout) as exc:
            raise TemporaryDNSError(f"{rtype} {name}: {exc}") from exc
        except dns.name.LabelTooLong:
            return []
        return [_render(record, rtype) for record in answer]


def make_resolver(settings: Settings) -> SystemResolver:
    """The resolver configured in `[dns]`: the given name servers, or the system's."""
    return SystemResolver(settings.dns.nameservers, timeout=float(settings.dns.timeout),
                          port=settings.dns.port)


def _render(record: object, rtype: str) -> str:
    if rtype == "TXT":
        return b"".join(record.strings).decode("utf-8", "replace")  # type: ignore[attr-defined]
    if rtype == "MX":
        return f"{record.preference} {_bare(record.exchange.to_text())}"  # type: ignore[attr-defined]
    if rtype in ("PTR", "CNAME"):
        return _bare(record.target.to_text())  # type: ignore[attr-defined]
    return record.to_text()


class StaticResolver:
    """Fixed records: `{("example.com", "MX"): ["10 mx.example.com"], ...}`.

    A name listed in `failing` raises `TemporaryDNSError` for every type, as an unreachable
    name server would. Records may be added while a test runs (`add`).
    """

    def __init__(self, records: Mapping[tuple[str, str], list[str]] | None = None,
                 failing: Iterable[str] = ()) -> None:
        self.records: dict[tuple[str, str], list[str]] = {}
        self.failing = {_bare(name) for name in failing}
        self.queries: list[tuple[str, str]] = []
        for (name, rtype), values in (records or {}).items():
            self.add(name, rtype, *values)

    def add(self, name: str, rtype: str, *values: str) -> None:
        self.records.setdefault((_bare(name), rtype.upper()), []).extend(values)

    def query(self, name: str, rtype: str) -> list[str]:
        name = _bare(name)
        self.queries.append((name, rtype))
        if name in self.failing:
            raise TemporaryDNSError(f"{rtype} {name}: no answer (test)")
        return list(self.records.get((name, rtype.upper()), []))
