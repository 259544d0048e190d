"""The IMAP listeners' factory: sessions with every command registered.

IMAP on port 143 starts in plaintext and offers STARTTLS; port 993 is TLS from the first byte
(RFC 8314). Both run the same session.
"""

from __future__ import annotations

from typing import Any

from mfserver.imap import anystate, mailboxes, messages  # noqa: F401 - they register commands
from mfserver.imap.connection import IMAPConnection, IMAPFactory
from mfserver.imap.session import IMAPServices, IMAPSession


def imap_factory(services: IMAPServices, tls_context: Any, *, implicit_tls: bool) -> IMAPFactory:
    def session(connection: IMAPConnection) -> IMAPSession:
        return IMAPSession(connection, services)
    return IMAPFactory(session, tls_context, implicit_tls=implicit_tls)
