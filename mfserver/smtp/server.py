"""The SMTP listeners' factories: inbound (25) and submission (587 STARTTLS, 465 TLS).

Submission on 587 starts in plaintext and offers STARTTLS (RFC 6409, RFC 3207); 465 is TLS
from the first byte (RFC 8314 3.3). Inbound on 25 offers STARTTLS to other servers.
"""

from __future__ import annotations

from typing import Any

from mfserver.smtp import commands  # noqa: F401 - registers the commands
from mfserver.smtp.connection import SMTPConnection
from mfserver.smtp.session import INBOUND, SUBMISSION, SMTPServices, SMTPSession
from mfserver.wire import LineFactory


def smtp_factory(services: SMTPServices, tls_context: Any, *, submission: bool,
                 implicit_tls: bool = False) -> LineFactory:
    role = SUBMISSION if submission else INBOUND

    def session(connection: SMTPConnection) -> SMTPSession:
        return SMTPSession(connection, services, role)
    return LineFactory(SMTPConnection, session, tls_context, implicit_tls=implicit_tls)
