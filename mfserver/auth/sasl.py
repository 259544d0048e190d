"""SASL PLAIN (RFC 4616) and LOGIN, apart from any protocol: IMAP AUTHENTICATE, POP3 AUTH and
SMTP AUTH all drive the same exchange and only word the answers their own way.

Implementation notes:
- `Exchange` is pure: it is fed the client's base64 lines and says what to prompt next or which
  credentials it got. `WireExchange` drives it over a connection for every protocol, which
  only words its prompts and replies.
- "*" cancels (RFC 4954 4, RFC 3501 6.2.2, RFC 5034 4); "=" is an empty response (RFC 4959).
- PLAIN with an authorization identity other than the login is refused: nobody may act as
  another user here.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Generic, TypeVar

from twisted.internet import defer

MECHANISMS = ("PLAIN", "LOGIN")
R = TypeVar("R")
_LOGIN_PROMPTS = (b"VXNlcm5hbWU6", b"UGFzc3dvcmQ6")  # "Username:", "Password:"


class SaslError(Exception):
    """The exchange failed: `reason` is "cancelled", "base64", "malformed" or "authzid"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def decode_response(text: str) -> bytes | None:
    """A base64 SASL response ("=" is the empty one); None when it is not valid base64."""
    if text == "=":
        return b""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


class Exchange:
    """One PLAIN or LOGIN exchange."""

    def __init__(self, mechanism: str, initial: bytes | None = None) -> None:
        if mechanism not in MECHANISMS:
            raise ValueError(f"unsupported mechanism {mechanism}")
        self.mechanism = mechanism
        self.answers: list[bytes] = [] if initial is None else [initial]

    @property
    def complete(self) -> bool:
        return len(self.answers) >= (1 if self.mechanism == "PLAIN" else 2)

    def prompt(self) -> bytes:
        """The base64 challenge before the next response (empty for PLAIN)."""
        return b"" if self.mechanism == "PLAIN" else _LOGIN_PROMPTS[len(self.answers)]

    def respond(self, line: bytes) -> None:
        """Take one response line; SaslError when it cancels or is not base64."""
        if line.strip() == b"*":
            raise SaslError("cancelled")
        decoded = decode_response(line.decode("ascii", "replace").strip())
        if decoded is None:
            raise SaslError("base64")
        self.answers.append(decoded)

    def credentials(self) -> tuple[str, str]:
        """(login, secret) of a complete exchange; SaslError when malformed."""
        try:
            if self.mechanism == "PLAIN":
                authzid, login, secret = self.answers[0].split(b"\0")
                if authzid and authzid != login:
                    raise SaslError("authzid")
            else:
                login, secret = self.answers
            return login.decode("utf-8"), secret.decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise SaslError("malformed") from None


class WireExchange(Generic[R]):
    """One exchange on the wire, the same for IMAP AUTHENTICATE, POP3 AUTH and SMTP AUTH: send
    the prompt, read response lines (the connection gives raw lines while busy), then check the
    credentials. Each protocol words its prompts and refusals its own way:

    - `send_prompt(challenge)` writes "+ challenge" / "334 challenge";
    - `read_lines(handler or None)` switches the connection's raw-line mode on and off; an
      overlong line reaches the handler as None and gets `too_long`;
    - `refusals` maps each `SaslError.reason` to the protocol's reply;
    - `authenticate(login, secret)` is the one credential check, giving the final reply.
    """

    def __init__(self, mechanism: str, *, send_prompt: Callable[[bytes], None],
                 read_lines: Callable[[Callable[[bytes | None], None] | None], None],
                 authenticate: Callable[[str, str], defer.Deferred[R]],
                 refusals: dict[str, R], too_long: R) -> None:
        self.mechanism = mechanism
        self._send_prompt = send_prompt
        self._read_lines = read_lines
        self._authenticate = authenticate
        self._refusals = refusals
        self._too_long = too_long
        self.done: defer.Deferred[R] = defer.Deferred()

    def start(self, initial: bytes | None) -> defer.Deferred[R]:
        self.exchange = Exchange(self.mechanism, initial)
        self._next()
        return self.done

    def _next(self) -> None:
        if not self.exchange.complete:
            self._send_prompt(self.exchange.prompt())
            self._read_lines(self._line)
            return
        self._read_lines(None)
        try:
            login, secret = self.exchange.credentials()
        except SaslError as error:
            self.done.callback(self._refusals[error.reason])
            return
        self._authenticate(login, secret).chainDeferred(self.done)

    def _line(self, line: bytes | None) -> None:
        if line is None:
            self._end(self._too_long)
            return
        try:
            self.exchange.respond(line)
        except SaslError as error:
            self._end(self._refusals[error.reason])
            return
        self._next()

    def _end(self, reply: R) -> None:
        self._read_lines(None)
        self.done.callback(reply)
