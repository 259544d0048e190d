"""The Sendmail milter protocol, version 6 (as Postfix speaks it): packets, codes and replies.

Implementation notes:
- Pure: building the MTA's packets and reading the milter's replies; no sockets here.
- A packet is a 4-byte big-endian length (counting the command byte), the command byte, and
  the data. Strings are NUL-terminated. There is no public RFC; this follows libmilter's
  mfdef.h and Postfix's milter8.c (the codes below carry their SMFIC_/SMFIR_/SMFIF_/SMFIP_
  names).
- A reply packet longer than MAX_PACKET (the 1 MB that libmilter allows with SMFIP_MDS_1M,
  plus room) is refused as a protocol error.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

VERSION = 6
MAX_PACKET = 1024 * 1024 + 1024
BODY_CHUNK = 65535

# commands, MTA -> milter (SMFIC_*)
ABORT, BODY, CONNECT, MACRO, BODYEOB, HELO, QUIT_NC = b"A", b"B", b"C", b"D", b"E", b"H", b"K"
HEADER, MAIL, EOH, OPTNEG, QUIT, RCPT, DATA = b"L", b"M", b"N", b"O", b"Q", b"R", b"T"

# replies, milter -> MTA (SMFIR_*)
ADDRCPT, DELRCPT, ADDRCPT_PAR, SHUTDOWN, ACCEPT, REPLBODY = b"+", b"-", b"2", b"4", b"a", b"b"
CONTINUE, DISCARD, CHGFROM, CONN_FAIL, ADDHEADER, INSHEADER = b"c", b"d", b"e", b"f", b"h", b"i"
SETSYMLIST, CHGHEADER, PROGRESS, QUARANTINE, REJECT, SKIP = b"l", b"m", b"p", b"q", b"r", b"s"
TEMPFAIL, REPLYCODE = b"t", b"y"
FINAL = {ACCEPT, CONTINUE, DISCARD, REJECT, TEMPFAIL, REPLYCODE, SKIP, SHUTDOWN, CONN_FAIL}

# actions the MTA allows (SMFIF_*)
F_ADDHDRS, F_CHGBODY, F_ADDRCPT, F_DELRCPT = 0x01, 0x02, 0x04, 0x08
F_CHGHDRS, F_QUARANTINE, F_CHGFROM, F_ADDRCPT_PAR, F_SETSYMLIST = 0x10, 0x20, 0x40, 0x80, 0x100
OFFERED_ACTIONS = (F_ADDHDRS | F_CHGBODY | F_ADDRCPT | F_DELRCPT | F_CHGHDRS | F_QUARANTINE
                   | F_ADDRCPT_PAR | F_SETSYMLIST)

# protocol steps (SMFIP_*)
P_NOCONNECT, P_NOHELO, P_NOMAIL, P_NORCPT, P_NOBODY = 0x1, 0x2, 0x4, 0x8, 0x10
P_NOHDRS, P_NOEOH, P_NR_HDR, P_NOUNKNOWN, P_NODATA = 0x20, 0x40, 0x80, 0x100, 0x200
P_SKIP, P_RCPT_REJ, P_NR_CONN, P_NR_HELO, P_NR_MAIL = 0x400, 0x800, 0x1000, 0x2000, 0x4000
P_NR_RCPT, P_NR_DATA, P_NR_UNKN, P_NR_EOH, P_NR_BODY = 0x8000, 0x10000, 0x20000, 0x40000, 0x80000
P_HDR_LEADSPC = 0x100000
OFFERED_STEPS = 0x1FFFFF  # every step may be skipped or left unanswered, as Postfix offers

# macro stages in SMFIR_SETSYMLIST / optneg (SMFIM_*)
STAGE_CODES = {0: CONNECT, 1: HELO, 2: MAIL, 3: RCPT, 4: DATA, 5: BODYEOB, 6: EOH}


class ProtocolError(Exception):
    """The milter said something this protocol does not allow."""


def packet(command: bytes, data: bytes = b"") -> bytes:
    return struct.pack(">I", len(data) + 1) + command + data


def cstrings(*values: str) -> bytes:
    return b"".join(value.encode("utf-8", "surrogateescape") + b"\0" for value in values)


def optneg(version: int = VERSION, actions: int = OFFERED_ACTIONS,
           steps: int = OFFERED_STEPS) -> bytes:
    return packet(OPTNEG, struct.pack(">III", version, actions, steps))


def connect(hostname: str, address: str, port: int) -> bytes:
    if not address:
        return packet(CONNECT, cstrings(hostname) + b"U")  # unknown family
    family = b"6" if ":" in address else b"4"
    return packet(CONNECT, cstrings(hostname) + family + struct.pack(">H", port)
                  + cstrings(address))


def macros(stage: bytes, values: dict[str, str]) -> bytes:
    pairs: list[str] = []
    for name, value in values.items():
        if value is not None:
            pairs += [name if len(name) == 1 else "{" + name.strip("{}") + "}", value]
    return packet(MACRO, stage + cstrings(*pairs))


@dataclass(frozen=True)
class Negotiated:
    version: int
    actions: int
    steps: int
    macros: dict[bytes, list[str]]  # stage command -> macro names the milter asked for

    def skips(self, flag: int) -> bool:
        return bool(self.steps & flag)


def read_optneg(data: bytes) -> Negotiated:
    if len(data) < 12:
        raise ProtocolError("option negotiation reply too short")
    version, actions, steps = struct.unpack(">III", data[:12])
    if version < 2 or version > VERSION:
        raise ProtocolError(f"milter protocol version {version} not supported")
    if actions & ~OFFERED_ACTIONS:
        raise ProtocolError(f"milter wants actions {actions:#x} beyond {OFFERED_ACTIONS:#x}")
    wanted: dict[bytes, list[str]] = {}
    rest = data[12:]
    while len(rest) >= 5:
        (stage,) = struct.unpack(">I", rest[:4])
        names, _, rest = rest[4:].partition(b"\0")
        if stage in STAGE_CODES:
            wanted[STAGE_CODES[stage]] = names.decode("ascii", "replace").split()
    return Negotiated(version, actions, steps, wanted)


@dataclass(frozen=True)
class Reply:
    code: bytes
    data: bytes

    def strings(self) -> list[str]:
        parts = self.data.split(b"\0")
        if parts and parts[-1] == b"":
            parts.pop()
        return [part.decode("utf-8", "surrogateescape") for part in parts]


def parse_reply(frame: bytes) -> Reply:
    if not frame:
        raise ProtocolError("empty reply packet")
    return Reply(frame[:1], frame[1:])


def read_length(header: bytes) -> int:
    (length,) = struct.unpack(">I", header)
    if not 1 <= length <= MAX_PACKET:
        raise ProtocolError(f"reply packet of {length} octets")
    return length


def reply_code(text: str) -> tuple[int, str | None, str]:
    """`550 5.7.1 text` (SMFIR_REPLYCODE) as (code, enhanced code, text)."""
    code, _, rest = text.strip().partition(" ")
    if not (len(code) == 3 and code.isdigit() and code[0] in "45"):
        raise ProtocolError(f"bad reply code {text[:40]!r}")
    enhanced, _, words = rest.partition(" ")
    parts = enhanced.split(".")
    if len(parts) == 3 and all(part.isdigit() for part in parts) and parts[0] == code[0]:
        return int(code), enhanced, words.replace("\r\n", " ").strip()
    return int(code), None, rest.replace("\r\n", " ").strip()
