"""Delivery status notifications (RFC 3464) for the sender of a queued message.

Implementation notes:
- The notification is a `multipart/report; report-type=delivery-status` (RFC 6522): a
  human-readable part, a `message/delivery-status` part with the per-message fields
  (Reporting-MTA, Original-Envelope-Id, Arrival-Date) and one block per recipient
  (Final-Recipient, Original-Recipient from ORCPT, Action, Status, Remote-MTA,
  Diagnostic-Code, Last-Attempt-Date, Will-Retry-Until), then the original message: its header
  (`text/rfc822-headers`) unless the sender asked RET=FULL (`message/rfc822`), RFC 3461 §4.3.
- A message sent with SMTPUTF8 gets the RFC 6533 types instead (`message/global-delivery-status`,
  `message/global`, `message/global-headers`), and `utf-8;` address types where needed.
- It comes From MAILER-DAEMON@hostname with `Auto-Submitted: auto-replied` (RFC 3834) and goes
  out with the null reverse-path, so it is never itself bounced (RFC 5321 §4.5.5).
- Field values are single lines: replies are cleaned of control characters before they get here.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from mfserver.outbound.outcome import clean
from mfserver.outbound.queue import QueuedMessage
from mfserver.outbound.schedule import Report

FULL_RETURN_LIMIT = 10 * 1024 * 1024  # larger originals are returned as headers only
SUBJECTS = {
    "failed": "Undelivered Mail Returned to Sender",
    "delayed": "Delayed Mail (still being retried)",
    "relayed": "Successful Mail Delivery Report",
    "delivered": "Successful Mail Delivery Report",
}
EXPLANATIONS = {
    "failed": "Your message could not be delivered to one or more recipients.\n"
              "It has been returned, and will not be retried.",
    "delayed": "Your message has not been delivered yet to one or more recipients.\n"
               "Delivery is still being attempted; you need not send it again.",
    "delivered": "Your message was delivered to the recipient's mailbox.",
    "relayed": "Your message was accepted by the recipient's mail server.\n"
               "That server does not confirm delivery itself, so this is the last notice.",
}


def rfc5322_date(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")


def header_block(message: bytes) -> bytes:
    """The header section of a message, up to and including its empty line."""
    end = message.find(b"\r\n\r\n")
    return message if end < 0 else message[:end + 4]


def _address_type(address: str) -> str:
    return f"rfc822; {address}" if address.isascii() else f"utf-8; {address}"


def _recipient_fields(report: Report, now: int, retry_until: int) -> list[str]:
    recipient, outcome = report.recipient, report.outcome
    fields = []
    if recipient.orcpt:
        kind, _, address = recipient.orcpt.partition(";")
        fields.append(f"Original-Recipient: {kind.strip()}; {clean(address.strip())}")
    fields += [f"Final-Recipient: {_address_type(recipient.address)}",
               f"Action: {report.action}",
               f"Status: {outcome.status}"]
    if outcome.remote_mta:
        fields.append(f"Remote-MTA: dns; {outcome.remote_mta}")
    if outcome.from_remote and outcome.text[:3].isdigit():
        fields.append(f"Diagnostic-Code: smtp; {outcome.text}")
    else:
        fields.append(f"Diagnostic-Code: X-mfserver; {outcome.text}")
    fields.append(f"Last-Attempt-Date: {rfc5322_date(now)}")
    if report.action == "delayed":
        fields.append(f"Will-Retry-Until: {rfc5322_date(retry_until)}")
    return fields


def _human(hostname: str, reports: list[Report]) -> str:
    action = reports[0].action
    lines = [f"This is the mail system at {hostname}.", "", EXPLANATIONS[action], ""]
    for report in reports:
        lines.append(f"<{report.recipient.address}>: {report.outcome.text}")
    return "\r\n".join(lines) + "\r\n"


def build_dsn(hostname: str, message: QueuedMessage, reports: list[Report], original: bytes,
              now: int, retry_until: int) -> bytes:
    """The notification for `reports` (all with the same action) about `message`."""
    action = reports[0].action
    global_types = message.smtputf8
    boundary = f"=_{secrets.token_hex(12)}"
    status_type = "global-delivery-status" if global_types else "delivery-status"
    per_message = [f"Reporting-MTA: dns; {hostname}"]
    if message.envid:
        per_message.append(f"Original-Envelope-Id: {message.envid}")
    per_message.append(f"Arrival-Date: {rfc5322_date(message.created_at)}")
    blocks = ["\r\n".join(per_message)]
    blocks += ["\r\n".join(_recipient_fields(report, now, retry_until)) for report in reports]
    status_body = "\r\n\r\n".join(blocks) + "\r\n"

    full = message.ret == "FULL" and len(original) <= FULL_RETURN_LIMIT
    if full:
        returned_type = "message/global" if global_types else "message/rfc822"
        returned = original
    else:
        returned_type = "message/global-headers" if global_types else "text/rfc822-headers"
        returned = header_block(original)
    human = _human(hostname, reports)
    human_encoding = "7bit" if human.isascii() else "8bit"
    status_encoding = "7bit" if status_body.isascii() else "8bit"
    returned_encoding = "7bit" if returned.isascii() else "8bit"

    head = [
        f"From: Mail Delivery System <MAILER-DAEMON@{hostname}>",
        f"To: <{message.sender}>",
        f"Subject: {SUBJECTS[action]}",
        f"Date: {rfc5322_date(now)}",
        f"Message-ID: <{secrets.token_hex(12)}@{hostname}>",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type={status_type};\r\n boundary="{boundary}"',
        "",
        "This is a MIME-encapsulated message.",
        "",
        f"--{boundary}",
        "Content-Description: Notification",
        "Content-Type: text/plain; charset=utf-8",
        f"Content-Transfer-Encoding: {human_encoding}",
        "",
        human,
        f"--{boundary}",
        "Content-Description: Delivery report",
        f"Content-Type: message/{status_type}",
        f"Content-Transfer-Encoding: {status_encoding}",
        "",
        status_body,
        f"--{boundary}",
        "Content-Description: " + ("Returned message" if full else "Returned message header"),
        f"Content-Type: {returned_type}",
        f"Content-Transfer-Encoding: {returned_encoding}",
        "",
        "",
    ]
    tail = f"\r\n--{boundary}--\r\n".encode()
    returned = returned if returned.endswith(b"\r\n") else returned + b"\r\n"
    return "\r\n".join(head).encode("utf-8") + returned + tail
