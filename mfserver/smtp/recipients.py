"""Where a recipient goes, and which addresses an account may send as; blocking lookups.

Implementation notes:
- Inbound (RFC 5321 4.1.1.3, 3.6.2): a recipient in one of our domains is delivered if the
  directory resolves it (address, alias, enabled disposable address, `user+tag`, catch-all);
  an unknown or disabled one gets 550 5.1.1; a full mailbox 452 4.2.2 (temporary: the owner
  may make room); any other domain 554 5.7.1 — we are not an open relay.
- `postmaster` without a domain must be accepted (RFC 5321 4.5.1): it goes to the first of
  our domains that has a postmaster address.
- Submission: recipients in our domains are checked the same way (delivered locally, no
  queue), any other domain is routed to the outbound queue.
- An account owns its enabled addresses, and their `+tag` forms.
"""

from __future__ import annotations

from dataclasses import dataclass

from mfserver.accounts import Directory
from mfserver.accounts.directory import SUBADDRESS_SEPARATOR, normalise_domain
from mfserver.accounts.errors import InvalidValue, NotFound
from mfserver.smtp import codes
from mfserver.smtp.codes import Reply


@dataclass(frozen=True)
class Route:
    account_id: int | None = None   # local account; None: remote (submission only)
    refusal: Reply | None = None


def route(directory: Directory, address: str, *, submission: bool) -> Route:
    if address.lower() == "postmaster":
        for domain in directory.list_domains():
            account = directory.resolve_recipient(f"postmaster@{domain.name}")
            if account is not None:
                return Route(account.id)
        return Route(refusal=codes.NO_SUCH_USER)
    domain = address.rpartition("@")[2]
    if domain.startswith("["):
        return Route(refusal=codes.NO_RELAY if not submission else
                     codes.BAD_ADDRESS.with_text("Address literals are not accepted"))
    if not directory.is_local_domain(domain):
        return Route() if submission else Route(refusal=codes.NO_RELAY)
    account = directory.resolve_recipient(address)
    if account is None:
        return Route(refusal=codes.NO_SUCH_USER)
    if account.quota_bytes and account.used_bytes >= account.quota_bytes:
        return Route(refusal=codes.MAILBOX_FULL)
    return Route(account.id)


def canonical(address: str) -> str | None:
    """`local@domain` lower-cased, the domain in IDNA form, without `+tag`; None if invalid."""
    local, at, domain = address.rpartition("@")
    if not at or not local:
        return None
    try:
        domain = normalise_domain(domain)
    except InvalidValue:
        return None
    base = local.lower().partition(SUBADDRESS_SEPARATOR)[0] or local.lower()
    return f"{base}@{domain}"


def owned_addresses(directory: Directory, username: str) -> set[str]:
    try:
        infos = directory.list_addresses(username)
    except NotFound:
        return set()
    return {info.address.lower() for info in infos if info.enabled}


def owns_address(directory: Directory, username: str, address: str) -> bool:
    """May `username` use `address` as a sender? The null sender is always allowed."""
    if address == "":
        return True
    wanted = canonical(address)
    return wanted is not None and wanted in owned_addresses(directory, username)
