"""The message as the milter chain shares it: parsed once, changed in place, written back.

Implementation notes:
- The header block is cut into fields, each kept as its exact bytes (folding included); a
  field nobody changed is written back byte for byte, so is the body unless replaced. The
  message is CRLF-normalised once (the SMTP server already hands over CRLF lines).
- Header values are `str`, decoded as UTF-8 with surrogate escapes, so 8-bit bytes survive
  the round trip; a new or changed field is encoded the same way.
- `parsed` is an `email` object built on first use and dropped after a change, so milters
  that only look share one parse.
- Modifications are the Sendmail ones: add (at the end or at an index) / change / delete a
  header (the n-th occurrence, 1-based, as SMFIR_CHGHEADER counts), replace the body,
  add / delete a recipient, and per-recipient filing (`file_into`).
- Bounds: at most MAX_FIELDS header fields are split out; the rest stays one opaque tail.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from mfserver.milter.api import Envelope, Peer, Recipient

MAX_FIELDS = 1000
_FIELD_START = re.compile(rb"\r\n(?![ \t])")


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def split_fields(header: bytes) -> tuple[list[bytes], bytes]:
    """The header block (without its empty line) as exact field bytes, and any opaque tail."""
    fields: list[bytes] = []
    pos = 0
    while pos < len(header) and len(fields) < MAX_FIELDS:
        found = _FIELD_START.search(header, pos)
        end = found.start() + 2 if found else len(header)
        fields.append(header[pos:end])
        pos = end
    return fields, header[pos:]


def field_name(raw: bytes) -> str:
    name, colon, _ = raw.partition(b":")
    return _text(name.strip()) if colon else ""


def field_value(raw: bytes) -> str:
    """The value after the colon: one leading space dropped, folding kept, no final CRLF."""
    _, _, value = raw.partition(b":")
    if value.startswith(b" "):
        value = value[1:]
    return _text(value.removesuffix(b"\r\n"))


def make_field(name: str, value: str) -> bytes:
    value = value.replace("\r\n", "\n").replace("\n", "\r\n")
    return _raw(f"{name}: {value}\r\n")


def normalize(raw: bytes) -> bytes:
    if b"\r" not in raw:
        return raw.replace(b"\n", b"\r\n")
    if raw.count(b"\r\n") == raw.count(b"\r") == raw.count(b"\n"):
        return raw
    return re.sub(rb"\r\n|\r|\n", b"\r\n", raw)


@dataclass
class MilterMessage:
    """One message on its way through the chain, with the transaction it belongs to."""

    peer: Peer
    envelope: Envelope
    recipients: list[Recipient]
    fields: list[bytes]
    tail: bytes                # header bytes past MAX_FIELDS, kept as they are
    body: bytes
    folders: dict[str, str] = field(default_factory=dict)
    changed: bool = False
    separated: bool = True     # an empty line ended the header (absent in a header-only text)
    notes: dict[str, Any] = field(default_factory=dict)  # what milters tell later ones
    _parsed: EmailMessage | None = None

    @classmethod
    def parse(cls, peer: Peer, envelope: Envelope, raw: bytes) -> MilterMessage:
        raw = normalize(raw)
        separated = True
        if raw.startswith(b"\r\n"):
            header, body = b"", raw[2:]
        else:
            cut = raw.find(b"\r\n\r\n")
            separated = cut >= 0
            header, body = (raw, b"") if cut < 0 else (raw[:cut + 2], raw[cut + 4:])
        fields, tail = split_fields(header)
        return cls(peer, envelope, list(envelope.recipients), fields, tail, body,
                   separated=separated)

    # -- reading ----------------------------------------------------------------------------

    @property
    def headers(self) -> list[tuple[str, str]]:
        return [(field_name(raw), field_value(raw)) for raw in self.fields]

    def get_all(self, name: str) -> list[str]:
        wanted = name.lower()
        return [field_value(raw) for raw in self.fields if field_name(raw).lower() == wanted]

    def get(self, name: str) -> str | None:
        values = self.get_all(name)
        return values[0] if values else None

    @property
    def header_bytes(self) -> bytes:
        return b"".join(self.fields) + self.tail

    def as_bytes(self) -> bytes:
        separator = b"\r\n" if self.separated or self.body else b""
        return self.header_bytes + separator + self.body

    @property
    def parsed(self) -> EmailMessage:
        """The message as an `email` object (parsed once until the next change)."""
        if self._parsed is None:
            parsed = email.message_from_bytes(self.header_bytes + b"\r\n" + self.body,
                                              policy=email.policy.default)
            self._parsed = parsed  # type: ignore[assignment]
        assert self._parsed is not None
        return self._parsed

    @property
    def account_ids(self) -> list[int]:
        return sorted({r.account_id for r in self.recipients if r.account_id is not None})

    # -- Sendmail modifications -------------------------------------------------------------

    def _touch(self) -> None:
        self.changed = True
        self._parsed = None

    def add_header(self, name: str, value: str, index: int | None = None) -> None:
        """SMFIR_ADDHEADER (at the end) or SMFIR_INSHEADER (before field `index`, 0-based)."""
        raw = make_field(name, value)
        if index is None:
            self.fields.append(raw)
        else:
            self.fields.insert(max(0, min(index, len(self.fields))), raw)
        self._touch()

    def change_header(self, name: str, value: str | None, occurrence: int = 1) -> None:
        """SMFIR_CHGHEADER: the `occurrence`-th field `name` gets `value`; None deletes it.

        A missing occurrence with a value adds the field (as Sendmail does).
        """
        wanted, seen = name.lower(), 0
        for position, raw in enumerate(self.fields):
            if field_name(raw).lower() == wanted:
                seen += 1
                if seen == occurrence:
                    if value is None:
                        del self.fields[position]
                    else:
                        self.fields[position] = make_field(field_name(raw), value)
                    self._touch()
                    return
        if value is not None:
            self.add_header(name, value)

    def delete_header(self, name: str) -> int:
        """Every field `name` removed; how many there were."""
        wanted = name.lower()
        kept = [raw for raw in self.fields if field_name(raw).lower() != wanted]
        removed = len(self.fields) - len(kept)
        if removed:
            self.fields = kept
            self._touch()
        return removed

    def replace_header_fields(self, fields: list[bytes]) -> None:
        if fields != self.fields:
            self.fields = fields
            self._touch()

    def replace_body(self, body: bytes) -> None:
        """SMFIR_REPLBODY."""
        body = normalize(body)
        if body != self.body:
            self.body = body
            self._touch()

    def add_recipient(self, address: str) -> None:
        """SMFIR_ADDRCPT: only a remote (outbound) or already-resolved address makes sense."""
        if all(r.address.lower() != address.lower() for r in self.recipients):
            self.recipients.append(Recipient(address))
            self.changed = True

    def delete_recipient(self, address: str) -> None:
        """SMFIR_DELRCPT."""
        wanted = address.strip("<>").lower()
        self.recipients = [r for r in self.recipients
                           if r.address.strip("<>").lower() != wanted]
        self.changed = True

    def file_into(self, recipient: Recipient, folder: str) -> None:
        """Deliver this recipient's copy into `folder` (e.g. Junk) instead of its default."""
        self.folders[recipient.address] = folder
