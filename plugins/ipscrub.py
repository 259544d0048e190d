"""ipscrub (outbound): a submitted message carries neither the sender's IP address nor host name.

Implementation notes:
- Removed outright: fields whose only job is to name the origin (X-Originating-IP,
  X-Forwarded-For, X-Real-IP and their kin), and trace fields (Received, X-Received) that a
  mail client or a relay in front of us added. Our own Received of submitted mail names
  neither the client's address nor its HELO (smtp.headers), so it stays.
- Then every remaining field is searched for the client's address (as written, and IPv6 in
  its other spellings) and for its HELO name, when that is a host name: a Message-ID built on
  it is replaced by one on our host name; any other X- or trace field holding it is removed.
  What the user wrote (Subject, To, body) is left alone.
- With `[ipscrub] strip_user_agent`, User-Agent and X-Mailer go too.
"""

from __future__ import annotations

import ipaddress
import re
import secrets

from mfserver.milter.api import Direction, Milter
from mfserver.milter.config import MilterTools
from mfserver.milter.message import MilterMessage, field_name, field_value

ORIGIN_FIELDS = frozenset(name.lower() for name in (
    "X-Originating-IP", "X-Forwarded-For", "X-Forwarded-Host", "X-Real-IP", "X-Client-IP",
    "X-Remote-IP", "X-Remote-Addr", "X-Sender-IP", "X-Source-IP", "X-Originating-Host",
    "X-Source", "X-Source-Args", "X-Source-Dir", "X-Client-Addr", "X-Host-IP",
    "X-Originating-Client", "X-Submitted-From", "X-AntiAbuse", "Forwarded", "X-Sender-Host",
    "X-Proxy-IP", "X-Mail-Client-IP",
))
TRACE_FIELDS = frozenset({"received", "x-received", "x-original-received"})
AGENT_FIELDS = frozenset({"user-agent", "x-mailer", "x-newsreader"})


def spellings(address: str) -> list[str]:
    """The ways an IP address may be written in a header."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return [address] if address else []
    forms = {str(ip)}
    if ip.version == 6:
        forms.add(ip.exploded)
        forms.add(":".join(f"{int(group, 16):x}" for group in ip.exploded.split(":")))
        if ip.ipv4_mapped:
            forms.add(str(ip.ipv4_mapped))
    return sorted(forms, key=len, reverse=True)


def _revealing(values: list[str]) -> re.Pattern[str] | None:
    values = [value for value in values if value]
    if not values:
        return None
    alternatives = "|".join(re.escape(value) for value in values)
    return re.compile(rf"(?<![\w.:-])(?:{alternatives})(?![\w:-]|\.\w)", re.IGNORECASE)


class IPScrub(Milter):
    directions = frozenset({Direction.OUTBOUND})

    def __init__(self, strip_user_agent: bool = False) -> None:
        self.strip_user_agent = strip_user_agent

    def eom(self, message: MilterMessage) -> None:
        peer = message.peer
        secrets_found = spellings(peer.address)
        helo = (peer.helo or "").strip("[]")
        if helo and helo.lower() != peer.server_name.lower() and not _is_address(helo):
            secrets_found.append(helo)
        pattern = _revealing(secrets_found)
        kept: list[bytes] = []
        for raw in message.fields:
            name = field_name(raw).lower()
            if name in ORIGIN_FIELDS or (self.strip_user_agent and name in AGENT_FIELDS):
                continue
            if name in TRACE_FIELDS and not _ours(raw, peer.server_name):
                continue
            if pattern is not None and pattern.search(field_value(raw)):
                if name == "message-id":
                    kept.append(f"Message-ID: <{secrets.token_hex(12)}@{peer.server_name}>"
                                "\r\n".encode())
                    continue
                if name.startswith("x-") or name in TRACE_FIELDS:
                    continue
            kept.append(raw)
        message.replace_header_fields(kept)


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text.removeprefix("IPv6:").removeprefix("ipv6:"))
        return True
    except ValueError:
        return False


def _ours(raw: bytes, server_name: str) -> bool:
    """A Received field this server wrote for the submission (no `from` clause)."""
    value = field_value(raw)
    return f"by {server_name} (mfserver)" in value and not value.lstrip().startswith("from")


def make_milter(tools: MilterTools) -> IPScrub:
    return IPScrub(tools.settings.ipscrub.strip_user_agent)
