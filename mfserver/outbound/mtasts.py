"""MTA-STS (RFC 8461): which MX hosts a domain allows, and whether TLS to them is required.

Implementation notes:
- Blocking (DNS, HTTPS, database): the runner calls `MtaSts.policy()` in the thread pool.
- Discovery (§3.1): exactly one TXT record at `_mta-sts.<domain>` starting `v=STSv1`, with an
  `id`. The policy (§3.2) comes from `https://mta-sts.<domain>/.well-known/mta-sts.txt` through
  an injectable `fetch(url) -> bytes`; the real one (`fetch_https`) verifies the certificate,
  follows no redirects (§3.3), times out, and reads at most 64 KiB.
- Policies are cached in the database until max_age ends (§3.3, §5.1), so a restart does not
  forget them. A cached policy is used while the TXT id is unchanged, and also when the TXT
  record or the fetch fails (§5.1: an attacker who blocks discovery must not downgrade us).
- Matching (§4.1): an `mx` pattern "*.example.net" matches exactly one more leftmost label.
- Mode "enforce": only matching MX hosts, over TLS with a certificate valid for the MX name;
  "testing": violations are only logged; "none": as if no policy.
"""

from __future__ import annotations

import re
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete
from twisted.logger import Logger

from mfserver.db import Database
from mfserver.db.models import MtaStsPolicy
from mfserver.resolver import Resolver, TemporaryDNSError

log = Logger(namespace="mfserver.outbound")

MAX_POLICY_BYTES = 64 * 1024
MAX_AGE_LIMIT = 31_557_600  # §3.2: one year
FETCH_TIMEOUT = 60
ENFORCE, TESTING, NONE = "enforce", "testing", "none"
_TXT_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")

Fetcher = Callable[[str], bytes]


class PolicyError(ValueError):
    pass


@dataclass(frozen=True)
class Policy:
    id: str
    mode: str
    mx: tuple[str, ...]
    max_age: int

    def allows(self, host: str) -> bool:
        """Whether MX `host` matches one of the policy's `mx` patterns (§4.1)."""
        host = host.rstrip(".").lower()
        for pattern in self.mx:
            if pattern.startswith("*."):
                label, _, rest = host.partition(".")
                if label and rest == pattern[2:]:
                    return True
            elif host == pattern:
                return True
        return False


def parse_txt(records: list[str]) -> str | None:
    """The policy id from the `_mta-sts` TXT records, or None (§3.1)."""
    found = [record for record in records if record.startswith("v=STSv1")]
    if len(found) != 1:
        return None
    fields = dict(part.strip().partition("=")[::2] for part in found[0].split(";")
                  if part.strip())
    policy_id = fields.get("id", "").strip()
    return policy_id if _TXT_ID.match(policy_id) else None


def parse_policy(body: bytes, policy_id: str) -> Policy:
    """The policy file (§3.2); `PolicyError` when it is not a valid STSv1 policy."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyError("policy is not UTF-8") from None
    fields: dict[str, list[str]] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip().lower(), []).append(value.strip())
    if fields.get("version") != ["STSv1"]:
        raise PolicyError("version is not STSv1")
    mode = (fields.get("mode") or [""])[0]
    if mode not in (ENFORCE, TESTING, NONE):
        raise PolicyError(f"bad mode {mode!r}")
    max_age = (fields.get("max_age") or [""])[0]
    if not max_age.isdigit() or int(max_age) > MAX_AGE_LIMIT:
        raise PolicyError(f"bad max_age {max_age!r}")
    mx = tuple(pattern.rstrip(".").lower() for pattern in fields.get("mx", []))
    if mode != NONE and not mx:
        raise PolicyError("no mx patterns")
    return Policy(policy_id, mode, mx, int(max_age))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None  # §3.3: HTTP 3xx redirects MUST NOT be followed


def fetch_https(url: str, cafile: str | None = None, timeout: float = FETCH_TIMEOUT) -> bytes:
    """GET `url` over verified HTTPS: 200 text/plain, at most 64 KiB; OSError otherwise."""
    context = ssl.create_default_context(cafile=cafile or None)
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context),
                                         _NoRedirect())
    try:
        with opener.open(url, timeout=timeout) as response:
            if response.status != 200:
                raise OSError(f"HTTP {response.status}")
            if response.headers.get_content_type() != "text/plain":
                raise OSError(f"content type {response.headers.get_content_type()}")
            body = response.read(MAX_POLICY_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise OSError(f"HTTP {exc.code}") from None
    if len(body) > MAX_POLICY_BYTES:
        raise OSError("policy larger than 64 KiB")
    return body


class MtaSts:
    """Policy discovery, fetching and caching."""

    def __init__(self, database: Database, resolver: Resolver, fetch: Fetcher,
                 now: Callable[[], float] = time.time) -> None:
        self.database = database
        self.resolver = resolver
        self.fetch = fetch
        self.now = now

    def policy(self, domain: str) -> Policy | None:
        """The policy in force for `domain` (mode enforce or testing), or None."""
        policy = self._current(domain)
        return policy if policy is not None and policy.mode != NONE else None

    def _current(self, domain: str) -> Policy | None:
        cached = self._cached(domain)
        try:
            policy_id = parse_txt(self.resolver.query(f"_mta-sts.{domain}", "TXT"))
        except TemporaryDNSError:
            return cached
        if policy_id is None or (cached is not None and cached.id == policy_id):
            return cached
        url = f"https://mta-sts.{domain}/.well-known/mta-sts.txt"
        try:
            body = self.fetch(url)
            policy = parse_policy(body, policy_id)
        except (OSError, PolicyError) as exc:
            log.warn("MTA-STS policy of {domain} not usable: {error}", domain=domain,
                     error=str(exc))
            return cached
        self._store(domain, policy, body)
        return policy

    def _cached(self, domain: str) -> Policy | None:
        with self.database.read() as session:
            row = session.get(MtaStsPolicy, domain)
            if row is None or row.expires_at <= self.now():
                return None
            try:
                return parse_policy(row.body.encode("utf-8"), row.policy_id)
            except PolicyError:
                return None

    def _store(self, domain: str, policy: Policy, body: bytes) -> None:
        now = int(self.now())
        with self.database.write() as session:
            session.execute(delete(MtaStsPolicy).where(MtaStsPolicy.domain == domain))
            session.add(MtaStsPolicy(domain=domain, policy_id=policy.id,
                                     body=body.decode("utf-8"), fetched_at=now,
                                     expires_at=now + policy.max_age))
