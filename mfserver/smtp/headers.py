"""Trace and submission header fields; pure.

Implementation notes:
- Received (RFC 5321 4.4): inbound, `from HELO ([address])` — the address only when the admin
  allows (`[privacy] received_client_ip`); submission, no `from` clause at all: neither the
  client's address nor its HELO name (often a home machine's name) leaves the server. The
  `with` keyword follows RFC 3848/6531 (ESMTP, ESMTPS, ESMTPSA, UTF8SMTPS...). A `for` clause
  only when there is one recipient, so no Bcc recipient is shown to another.
- Return-Path (RFC 5321 4.4) is added at final delivery, above everything else.
- Submission (RFC 6409 8.2, 8.3): a missing Date or Message-ID is added.
- `header_section` / `header_values` read a message's header without decoding its body; a
  header that cannot be parsed gives no values rather than an error.
"""

from __future__ import annotations

import email.utils
import secrets
from datetime import UTC, datetime
from email.header import decode_header, make_header

FOLD_AT = 78


def _fold(name: str, parts: list[str]) -> bytes:
    """`name: part part ...` folded before a part that would pass FOLD_AT columns."""
    lines = [f"{name}: {parts[0]}"]
    for part in parts[1:]:
        if len(lines[-1]) + 1 + len(part) > FOLD_AT:
            lines.append("\t" + part)
        else:
            lines[-1] += " " + part
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def protocol_name(*, esmtp: bool, tls: bool, authenticated: bool, smtputf8: bool) -> str:
    if not esmtp:
        return "SMTP"
    name = "UTF8SMTP" if smtputf8 else "ESMTP"
    return name + ("S" if tls else "") + ("A" if authenticated else "")


def _date(now: datetime | None) -> str:
    return email.utils.format_datetime(now or datetime.now(UTC))


def received_inbound(*, helo: str, address: str | None, hostname: str, protocol: str,
                     queue_id: str, recipients: list[str],
                     now: datetime | None = None) -> bytes:
    source = f"from {helo}" + (f" ([{address}])" if address else "")
    parts = [source, f"by {hostname} (mfserver)", f"with {protocol}", f"id {queue_id}"]
    if len(recipients) == 1:
        parts.append(f"for <{recipients[0]}>")
    parts[-1] += ";"
    parts.append(_date(now))
    return _fold("Received", parts)


def received_submission(*, hostname: str, protocol: str, queue_id: str,
                        now: datetime | None = None) -> bytes:
    parts = [f"by {hostname} (mfserver)", f"with {protocol}", f"id {queue_id};", _date(now)]
    return _fold("Received", parts)


def return_path(sender: str) -> bytes:
    return f"Return-Path: <{sender}>\r\n".encode()


def header_section(message: bytes) -> bytes:
    end = message.find(b"\r\n\r\n")
    return message if end < 0 else message[:end + 2]


def header_values(message: bytes, name: str) -> list[str]:
    """Every value of the header field `name`, unfolded, MIME words decoded."""
    wanted = name.lower().encode()
    values: list[str] = []
    current: list[bytes] | None = None
    for line in header_section(message).split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            if current is not None:
                current.append(line)
            continue
        if current is not None:
            values.append(_decode(b"".join(current)))
            current = None
        field_name, colon, value = line.partition(b":")
        if colon and field_name.strip().lower() == wanted:
            current = [value]
    if current is not None:
        values.append(_decode(b"".join(current)))
    return values


def _decode(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace").strip()
    try:
        return str(make_header(decode_header(text)))
    except (ValueError, LookupError, UnicodeError):
        return text


def addresses(values: list[str]) -> list[str]:
    """The mailboxes named in address header values (From, Sender...), as written."""
    return [address for _, address in email.utils.getaddresses(values) if address]


def missing_submission_fields(message: bytes, hostname: str,
                              now: datetime | None = None) -> bytes:
    """Date and Message-ID header fields to add to a submitted message (RFC 6409 8)."""
    added = b""
    if not header_values(message, "Date"):
        added += f"Date: {_date(now)}\r\n".encode()
    if not header_values(message, "Message-ID"):
        added += f"Message-ID: <{secrets.token_hex(12)}@{hostname}>\r\n".encode()
    return added
