"""The checks every inbound message gets: SPF, DKIM, ARC and DMARC, in one blocking call.

Implementation notes:
- `check_message` blocks on DNS and hashing: the SMTP server runs it in its thread pool,
  never on the reactor thread.
- Every DNS question goes through the given `Resolver`; nothing here reads the system's
  resolver or caches across messages.
- It never raises for anything in the message or the envelope: each check turns malformed
  input into "none" or "permerror" on its own, so one broken part cannot hide the others.
- Our own forged results are not removed here; the server calls `strip_forged_results` before
  prepending the new field (RFC 8601 §5).
"""

from __future__ import annotations

from mfserver.mailauth.arccheck import verify_chain
from mfserver.mailauth.dkimcheck import verify_signatures
from mfserver.mailauth.dmarc import evaluate
from mfserver.mailauth.headers import split_header
from mfserver.mailauth.results import AuthenticationResults
from mfserver.mailauth.spfcheck import check_host
from mfserver.resolver import Resolver


def check_message(message: bytes, *, client_ip: str, helo: str, mail_from: str,
                  resolver: Resolver, authserv_id: str) -> AuthenticationResults:
    """SPF for the envelope, DKIM and ARC for the message, and DMARC for its author."""
    spf = check_host(resolver, client_ip=client_ip, helo=helo, mail_from=mail_from)
    dkim = tuple(verify_signatures(message, resolver))
    arc = verify_chain(message, resolver)
    fields, _ = split_header(message)
    dmarc = evaluate(fields, spf, dkim, resolver)
    return AuthenticationResults(authserv_id=authserv_id, spf=spf, dkim=dkim, arc=arc,
                                 dmarc=dmarc)
