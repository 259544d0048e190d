"""Named SMTP replies (RFC 5321 4.2, enhanced status codes RFC 3463 / RFC 5248).

Implementation notes:
- Every reply the server sends is one of these constants or made by `Reply.with_text`, so
  tests and code name the same thing. Texts never carry the client's address.
- Multi-line replies (EHLO) use `Reply.lines`: "250-" on every line but the last.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Reply:
    code: int
    enhanced: str | None
    text: str
    lines: tuple[str, ...] = ()   # extra lines after `text` (EHLO keywords)
    close: bool = False           # close the connection after sending (421, 221)

    def with_text(self, text: str) -> Reply:
        return replace(self, text=text)

    @property
    def positive(self) -> bool:
        return self.code < 400

    def encode(self) -> bytes:
        texts = [self.text, *self.lines]
        out = []
        for index, text in enumerate(texts):
            separator = " " if index == len(texts) - 1 else "-"
            prefix = f"{self.enhanced} " if self.enhanced else ""  # on every line, RFC 2034
            out.append(f"{self.code}{separator}{prefix}{text}\r\n")
        return "".join(out).encode("utf-8")


# 2xx
SERVICE_READY = Reply(220, None, "ESMTP ready")
READY_FOR_TLS = Reply(220, "2.0.0", "Ready to start TLS")
CLOSING = Reply(221, "2.0.0", "Bye", close=True)
AUTH_OK = Reply(235, "2.7.0", "Authentication successful")
OK = Reply(250, "2.0.0", "OK")
SENDER_OK = Reply(250, "2.1.0", "Sender OK")
RECIPIENT_OK = Reply(250, "2.1.5", "Recipient OK")
RESET_OK = Reply(250, "2.0.0", "Reset OK")
QUEUED = Reply(250, "2.0.0", "OK: queued as {id}")
VRFY_DISABLED = Reply(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt "
                                    "delivery")
HELP = Reply(214, "2.0.0", "See RFC 5321; commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP "
                           "QUIT VRFY STARTTLS AUTH")

# 3xx
AUTH_CHALLENGE = Reply(334, None, "")
START_DATA = Reply(354, None, "Start mail input; end with <CRLF>.<CRLF>")

# 4xx
SHUTTING_DOWN = Reply(421, "4.3.2", "Service shutting down, closing connection", close=True)
TIMEOUT = Reply(421, "4.4.2", "Timeout, closing connection", close=True)
TOO_MANY_ERRORS = Reply(421, "4.7.0", "Too many errors, closing connection", close=True)
LOCAL_ERROR = Reply(451, "4.3.0", "Local error in processing; try again later")
MAILBOX_FULL = Reply(452, "4.2.2", "Mailbox full")
TOO_MANY_RECIPIENTS = Reply(452, "4.5.3", "Too many recipients")
TEMPORARY_LOOKUP = Reply(451, "4.4.3", "Temporary lookup failure; try again later")
RATE_LIMITED = Reply(451, "4.7.1", "Sending rate limit exceeded; try again later")
AUTH_TEMPORARY = Reply(454, "4.7.0", "Temporary authentication failure; try again later")
TLS_UNAVAILABLE = Reply(454, "4.7.0", "TLS not available")
THROTTLED = Reply(454, "4.7.0", "Too many failed logins; wait and try again later")

# 5xx
SYNTAX_ERROR = Reply(500, "5.5.2", "Syntax error")
UNKNOWN_COMMAND = Reply(500, "5.5.1", "Command unrecognized")
LINE_TOO_LONG = Reply(500, "5.5.6", "Line too long")
PARAMETER_SYNTAX = Reply(501, "5.5.4", "Syntax error in parameters or arguments")
NOT_IMPLEMENTED = Reply(502, "5.5.1", "Command not implemented")
BAD_SEQUENCE = Reply(503, "5.5.1", "Bad sequence of commands")
PARAMETER_NOT_IMPLEMENTED = Reply(504, "5.5.4", "Command parameter not implemented")
AUTH_REQUIRED = Reply(530, "5.7.0", "Authentication required")
ENCRYPTION_REQUIRED = Reply(538, "5.7.11", "Encryption required for requested authentication "
                                           "mechanism")
AUTH_FAILED = Reply(535, "5.7.8", "Authentication credentials invalid")
BARE_LINE_END = Reply(521, "5.5.2", "Bare CR or LF received (RFC 5321 2.3.8); closing",
                      close=True)
NO_SUCH_USER = Reply(550, "5.1.1", "No such user here")
DISABLED_ADDRESS = Reply(550, "5.1.1", "Address no longer accepts mail")
MESSAGE_TOO_BIG = Reply(552, "5.3.4", "Message size exceeds fixed maximum message size")
QUOTA_EXCEEDED = Reply(552, "5.2.2", "Mailbox full")
NOT_OWNER = Reply(553, "5.7.1", "Sender address not owned by the authenticated user")
BAD_ADDRESS = Reply(553, "5.1.3", "Bad address syntax")
NO_RELAY = Reply(554, "5.7.1", "Relay access denied")
REJECTED = Reply(554, "5.7.1", "Message rejected")
HEADER_TOO_LONG = Reply(554, "5.6.0", "Header line too long (RFC 5322 2.1.1)")
NO_VALID_RECIPIENTS = Reply(554, "5.5.1", "No valid recipients")
BAD_PARAMETER = Reply(555, "5.5.4", "MAIL FROM/RCPT TO parameter not recognized or not "
                                    "implemented")
UTF8_REQUIRED = Reply(553, "5.6.7", "Non-ASCII address requires SMTPUTF8")
