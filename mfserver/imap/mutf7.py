"""Modified UTF-7, the encoding of IMAP mailbox names (RFC 3501 5.1.3).

Implementation notes:
- Printable US-ASCII (0x20-0x7e) stands for itself, except "&", which is written "&-".
  Every other character is written as UTF-16BE in "modified BASE64" (RFC 2045 base64 with
  "," for "/" and no "=" padding) between "&" and "-".
- `decode` is strict: it accepts only what `encode` would produce. RFC 3501 5.1.3 forbids
  base64 for a printable ASCII character ("&AGE-" for "a"), a shift must be closed by "-",
  and two shifts in a row ("&AOk-&AOk-") are one run written twice; padding bits left over
  after the last UTF-16 unit must be zero, and surrogates must pair. The simplest complete
  check is the round trip: decode leniently, encode again, compare. A name that is not
  canonical is refused (ValueError), so one folder can never have two spellings.
- Both directions are linear in the length of the name; nothing here knows about INBOX
  or hierarchy delimiters.
"""

from __future__ import annotations

import base64
import binascii
import re

_DIRECT = re.compile(r"[\x20-\x25\x27-\x7e]+")  # printable ASCII except "&"
_SHIFT = re.compile(r"&([A-Za-z0-9+,]*)-")


def encode(name: str) -> str:
    """`name` in modified UTF-7 (RFC 3501 5.1.3); ValueError on a lone surrogate."""
    out: list[str] = []
    pos = 0
    length = len(name)
    while pos < length:
        direct = _DIRECT.match(name, pos)
        if direct:
            out.append(direct.group())
            pos = direct.end()
            continue
        if name[pos] == "&":
            out.append("&-")
            pos += 1
            continue
        end = pos
        while end < length and not ("\x20" <= name[end] <= "\x7e"):
            end += 1
        try:
            utf16 = name[pos:end].encode("utf-16-be")
        except UnicodeEncodeError as error:
            raise ValueError("lone surrogate in mailbox name") from error
        encoded = base64.b64encode(utf16).rstrip(b"=").replace(b"/", b",")
        out.append("&" + encoded.decode("ascii") + "-")
        pos = end
    return "".join(out)


def decode(name: str) -> str:
    """The mailbox name that modified UTF-7 `name` stands for; ValueError if not canonical."""
    out: list[str] = []
    pos = 0
    length = len(name)
    while pos < length:
        direct = _DIRECT.match(name, pos)
        if direct:
            out.append(direct.group())
            pos = direct.end()
            continue
        if name[pos] != "&":
            raise ValueError("character not allowed in modified UTF-7")
        shift = _SHIFT.match(name, pos)
        if shift is None:
            raise ValueError("'&' not followed by modified BASE64 and '-'")
        out.append("&" if not shift.group(1) else _decode_run(shift.group(1)))
        pos = shift.end()
    result = "".join(out)
    if encode(result) != name:  # RFC 3501 5.1.3: one spelling per name
        raise ValueError("non-canonical modified UTF-7")
    return result


def _decode_run(run: str) -> str:
    """One base64 run (between "&" and "-") as text; `decode` checks it is canonical."""
    if len(run) % 4 == 1:  # 6 bits cannot end a UTF-16 unit
        raise ValueError("truncated modified BASE64")
    padded = run.replace(",", "/") + "=" * (-len(run) % 4)
    try:
        utf16 = base64.b64decode(padded, validate=True)
        if len(utf16) % 2:
            raise ValueError("odd number of octets in UTF-16")
        return utf16.decode("utf-16-be")
    except (binascii.Error, UnicodeDecodeError) as error:
        raise ValueError("bad modified BASE64 in mailbox name") from error
