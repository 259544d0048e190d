"""Parsing SMTP command lines, paths and ESMTP parameters; pure, no reactor.

Implementation notes:
- A command line is `VERB [argument]`; the verb is case-insensitive (RFC 5321 2.4). Lines
  that are not UTF-8 are syntax errors; non-ASCII is allowed only inside MAIL/RCPT paths,
  and only when the transaction asked for SMTPUTF8 (RFC 6531 3.2), which the session checks
  with `Path.ascii`.
- `MAIL FROM:<path> [params]`, `RCPT TO:<path> [params]` (RFC 5321 4.1.1.2-3). We accept a
  space after the colon (widespread, and harmless), a source route (RFC 5321 4.1.2 says to
  accept and ignore it), quoted local parts, and address literals; we refuse a path without
  angle brackets, a missing domain, a local part over 64 or a path over 256 octets
  (RFC 5321 4.5.3.1). `<>` is the null reverse-path (MAIL only) and `<postmaster>` is
  accepted as a forward-path (RFC 5321 4.5.1).
- ESMTP parameters are `KEYWORD[=value]`; keywords are case-insensitive and may not repeat.
  Which keywords are known, and their values, are checked here (RFC 1870 SIZE, RFC 6152
  BODY, RFC 6531 SMTPUTF8, RFC 3461 RET/ENVID/NOTIFY/ORCPT with xtext, RFC 4954 AUTH).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from mfserver.smtp import codes
from mfserver.smtp.codes import Reply


class SyntaxProblem(Exception):
    """The command cannot be accepted as written; `reply` says why."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.text)
        self.reply = reply


@dataclass(frozen=True)
class Command:
    verb: str       # upper case
    argument: str   # the rest of the line, leading space removed


@dataclass(frozen=True)
class Path:
    """A reverse- or forward-path: the mailbox without brackets ("" for the null path)."""

    address: str
    local: str = ""
    domain: str = ""

    @property
    def ascii(self) -> bool:
        return self.address.isascii()


@dataclass(frozen=True)
class PathCommand:
    path: Path
    params: dict[str, str | None] = field(default_factory=dict)


def parse_command(line: bytes) -> Command:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise SyntaxProblem(codes.SYNTAX_ERROR.with_text("Command is not valid UTF-8")) from None
    if any(ord(char) < 32 and char != "\t" for char in text) or "\x7f" in text:
        raise SyntaxProblem(codes.SYNTAX_ERROR.with_text("Control characters in command"))
    verb, _, argument = text.strip(" ").partition(" ")
    if not verb.isascii() or not verb.isalpha():
        raise SyntaxProblem(codes.UNKNOWN_COMMAND)
    return Command(verb.upper(), argument.strip(" "))


# RFC 5321 4.1.2 with RFC 6531 3.3 (UTF8-non-ascii allowed in atext and qtext)
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010ffff]"
_DOT_STRING = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*")
_QUOTED = re.compile(r'"(?:[\x20\x21\x23-\x5b\x5d-\x7e\u0080-\U0010ffff]|\\[\x20-\x7e])*"')
_LABEL = re.compile(r"(?:[A-Za-z0-9\u0080-\U0010ffff](?:[A-Za-z0-9\-\u0080-\U0010ffff]*"
                    r"[A-Za-z0-9\u0080-\U0010ffff])?)")
_SOURCE_ROUTE = re.compile(r"^@[^:,]+(?:,@[^:,]+)*:")

MAX_LOCAL = 64
MAX_DOMAIN = 255
MAX_PATH = 256


def _check_domain(domain: str) -> None:
    if domain.startswith("[") and domain.endswith("]"):
        literal = domain[1:-1]
        if literal[:5].lower() == "ipv6:":
            ipaddress.IPv6Address(literal[5:])
        else:
            ipaddress.IPv4Address(literal)
        return
    if len(domain.encode()) > MAX_DOMAIN or not domain:
        raise ValueError("domain length")
    for label in domain.split("."):
        if not _LABEL.fullmatch(label) or len(label.encode()) > 63:
            raise ValueError(f"bad label {label!r}")


def parse_mailbox(text: str) -> Path:
    """`local@domain` as written inside the brackets; ValueError when malformed."""
    local, at, domain = text.rpartition("@")
    if not at or not local:
        raise ValueError("no @")
    if not (_DOT_STRING.fullmatch(local) or _QUOTED.fullmatch(local)):
        raise ValueError("bad local part")
    if len(local.encode()) > MAX_LOCAL:
        raise ValueError("local part too long")
    _check_domain(domain)
    return Path(text, local, domain)


def _split_path(argument: str, keyword: str) -> tuple[str, str]:
    """`FROM:<path> params` → ("path", "params"); SyntaxProblem when malformed."""
    head = argument[:len(keyword)]
    if head.upper() != keyword:
        raise SyntaxProblem(codes.PARAMETER_SYNTAX.with_text(f"Syntax: {keyword}<address>"))
    rest = argument[len(keyword):].lstrip(" ")
    if not rest.startswith("<"):
        raise SyntaxProblem(codes.PARAMETER_SYNTAX.with_text("Address must be in <>"))
    if rest.startswith('<"'):  # a quoted local part may hold ">"
        match = _QUOTED.match(rest, 1)
        end = rest.find(">", match.end()) if match else -1
    else:
        end = rest.find(">")
    if end < 0:
        raise SyntaxProblem(codes.PARAMETER_SYNTAX.with_text("Address must be in <>"))
    path, params = rest[1:end], rest[end + 1:]
    if params and not params.startswith(" "):
        raise SyntaxProblem(codes.PARAMETER_SYNTAX.with_text("Space expected after address"))
    return path, params.strip(" ")


def _parse_params(text: str) -> dict[str, str | None]:
    params: dict[str, str | None] = {}
    for word in text.split():
        keyword, equals, value = word.partition("=")
        keyword = keyword.upper()
        if not re.fullmatch(r"[A-Z0-9][A-Z0-9\-]*", keyword) or (equals and not value):
            raise SyntaxProblem(codes.PARAMETER_SYNTAX.with_text(f"Bad parameter {word[:40]}"))
        if keyword in params:
            raise SyntaxProblem(codes.PARAMETER_SYNTAX.with_text(f"Repeated {keyword}"))
        params[keyword] = value if equals else None
    return params


def parse_mail(argument: str) -> PathCommand:
    """`MAIL FROM:<reverse-path> [params]`."""
    raw, params = _split_path(argument, "FROM:")
    if raw == "":
        return PathCommand(Path(""), _check_mail_params(_parse_params(params)))
    return PathCommand(_path(raw), _check_mail_params(_parse_params(params)))


def parse_rcpt(argument: str) -> PathCommand:
    """`RCPT TO:<forward-path> [params]`."""
    raw, params = _split_path(argument, "TO:")
    if raw.lower() == "postmaster":
        return PathCommand(Path("postmaster", "postmaster", ""),
                           _check_rcpt_params(_parse_params(params)))
    return PathCommand(_path(raw), _check_rcpt_params(_parse_params(params)))


def _path(raw: str) -> Path:
    raw = _SOURCE_ROUTE.sub("", raw)
    if len(raw.encode()) > MAX_PATH:
        raise SyntaxProblem(codes.BAD_ADDRESS.with_text("Address too long"))
    try:
        return parse_mailbox(raw)
    except ValueError:
        raise SyntaxProblem(codes.BAD_ADDRESS) from None


# -- parameters ----------------------------------------------------------------------------

def xtext_decode(value: str) -> str:
    """RFC 3461 4: "+" followed by two upper-case hex digits stands for that octet."""
    out = bytearray()
    index = 0
    while index < len(value):
        char = value[index]
        if char == "+":
            digits = value[index + 1:index + 3]
            if not re.fullmatch(r"[0-9A-F]{2}", digits):
                raise ValueError("bad xtext")
            out.append(int(digits, 16))
            index += 3
            continue
        if not ("!" <= char <= "~") or char == "=":
            raise ValueError("bad xtext")
        out.append(ord(char))
        index += 1
    return out.decode("utf-8", "replace")


def xtext_encode(value: str) -> str:
    return "".join(char if ("!" <= char <= "~" and char not in "+=") else
                   "".join(f"+{byte:02X}" for byte in char.encode()) for char in value)


def _bad(keyword: str) -> SyntaxProblem:
    return SyntaxProblem(codes.PARAMETER_SYNTAX.with_text(f"Bad value for {keyword}"))


def _check_mail_params(params: dict[str, str | None]) -> dict[str, str | None]:
    for keyword, value in params.items():
        if keyword == "SIZE":
            if value is None or not value.isdigit() or len(value) > 20:
                raise _bad(keyword)
        elif keyword == "BODY":
            if value is None or value.upper() not in ("7BIT", "8BITMIME"):
                raise SyntaxProblem(codes.BAD_PARAMETER.with_text(
                    "BODY must be 7BIT or 8BITMIME"))
            params[keyword] = value.upper()
        elif keyword == "SMTPUTF8":
            if value is not None:
                raise _bad(keyword)
        elif keyword == "RET":
            if value is None or value.upper() not in ("FULL", "HDRS"):
                raise _bad(keyword)
            params[keyword] = value.upper()
        elif keyword == "ENVID":
            if value is None or len(value) > 100:
                raise _bad(keyword)
            try:
                params[keyword] = xtext_decode(value)
            except ValueError:
                raise _bad(keyword) from None
        elif keyword == "AUTH":  # RFC 4954 5: accepted, not trusted
            if value is None:
                raise _bad(keyword)
        else:
            raise SyntaxProblem(codes.BAD_PARAMETER)
    return params


NOTIFY_WORDS = ("SUCCESS", "FAILURE", "DELAY")


def _check_rcpt_params(params: dict[str, str | None]) -> dict[str, str | None]:
    for keyword, value in params.items():
        if keyword == "NOTIFY":
            words = (value or "").upper().split(",")
            if words == ["NEVER"]:
                params[keyword] = "NEVER"
                continue
            if not words or any(word not in NOTIFY_WORDS for word in words) or \
                    len(set(words)) != len(words):
                raise _bad(keyword)
            params[keyword] = ",".join(words)
        elif keyword == "ORCPT":
            kind, semicolon, address = (value or "").partition(";")
            if not semicolon or not re.fullmatch(r"[A-Za-z0-9\-]+", kind) or not address:
                raise _bad(keyword)
            try:
                params[keyword] = f"{kind.lower()};{xtext_decode(address)}"
            except ValueError:
                raise _bad(keyword) from None
        else:
            raise SyntaxProblem(codes.BAD_PARAMETER)
    return params


def parse_bdat(argument: str) -> tuple[int, bool]:
    """`BDAT chunk-size [LAST]` (RFC 3030 2); ValueError when malformed."""
    words = argument.split()
    if not 1 <= len(words) <= 2 or not words[0].isdigit() or len(words[0]) > 12:
        raise ValueError("BDAT needs a chunk size")
    if len(words) == 2 and words[1].upper() != "LAST":
        raise ValueError("BDAT takes only LAST after the size")
    return int(words[0]), len(words) == 2
