"""The POP3 listeners' factory: sessions with every command registered.

POP3 on port 110 starts in plaintext and offers STLS (RFC 2595); port 995 is TLS from the
first byte (RFC 8314). Both run the same session.
"""

from __future__ import annotations

from typing import Any

from mfserver.pop3 import authorization, transaction  # noqa: F401 - they register commands
from mfserver.pop3.connection import POP3Connection
from mfserver.pop3.session import POP3Services, POP3Session
from mfserver.wire import LineFactory


def pop3_factory(services: POP3Services, tls_context: Any, *, implicit_tls: bool) -> LineFactory:
    def session(connection: POP3Connection) -> POP3Session:
        return POP3Session(connection, services)
    return LineFactory(POP3Connection, session, tls_context, implicit_tls=implicit_tls)
