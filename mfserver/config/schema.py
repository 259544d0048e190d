"""The one configuration schema: every option's default, help text and validator.

Implementation notes:
- This module is the only place an option is declared. The loader validates files against it,
  `conf/mfserver.toml` is generated from it (a test keeps the two equal), and `mfserver check`
  reports against it.
- A validator takes the raw TOML value and returns the normalised value, or raises
  `ValueError` with a short reason; the loader adds the file and key to the message.
- Port 0 means "this listener is off".
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Validator = Callable[[Any], Any]


@dataclass(frozen=True)
class Option:
    """One configuration key: its default, what it means, and how a value is checked."""

    name: str
    default: Any
    help: str
    validate: Validator


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", str: "a string", list: "a list",
            float: "a number", dict: "a table"}.get(type(value), type(value).__name__)


def string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {_type_name(value)}")
    return value


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {_type_name(value)}")
    return value


def integer(minimum: int, maximum: int) -> Validator:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, got {_type_name(value)}")
        if not minimum <= value <= maximum:
            raise ValueError(f"expected an integer from {minimum} to {maximum}, got {value}")
        return value
    return check


port = integer(0, 65535)


def choice(*allowed: str) -> Validator:
    def check(value: Any) -> str:
        value = string(value)
        if value not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}, got {value!r}")
        return value
    return check


_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


def hostname(value: Any) -> str:
    value = string(value).strip().rstrip(".").lower()
    try:
        ascii_name = value.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"not a valid host name: {value!r}") from exc
    if not _HOSTNAME.match(ascii_name):
        raise ValueError(f"not a valid host name: {value!r}")
    return ascii_name


def ip_addresses(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"expected a non-empty list of IP addresses, got {_type_name(value)}")
    result = []
    for item in value:
        try:
            result.append(str(ipaddress.ip_address(string(item))))
        except ValueError as exc:
            raise ValueError(f"not an IP address: {item!r}") from exc
    return result


def nameservers(value: Any) -> list[str]:
    """A list of IP addresses, possibly empty."""
    if value == []:
        return []
    return ip_addresses(value)


def database_url(value: Any) -> str:
    value = string(value)
    if value and not re.match(r"^(sqlite|postgresql)(\+\w+)?://", value):
        raise ValueError("expected an empty string (SQLite in the data directory), "
                         "sqlite:///PATH or postgresql://USER@HOST/DB")
    return value


_SIZE_UNITS = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}


def size(value: Any) -> int:
    """A byte count: an integer, or a string such as "500M" or "2G"; 0 means unlimited."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return value
    match = re.fullmatch(r"\s*(\d+)\s*([KMGT]?)i?B?\s*", string(value), re.IGNORECASE)
    if not match:
        raise ValueError(f"expected a size such as 500M or 2G, got {value!r}")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2).upper()]


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(value: Any) -> int:
    """Seconds: an integer, or a string such as "30s", "15m", "5d"."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return value
    match = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", string(value))
    if not match:
        raise ValueError(f"expected a duration such as 30s, 15m, 12h or 5d, got {value!r}")
    return int(match.group(1)) * _DURATION_UNITS[match.group(2)]


def positive_duration(value: Any) -> int:
    seconds = duration(value)
    if seconds == 0:
        raise ValueError("expected a duration of at least 1s")
    return seconds


def host_port(value: Any) -> str:
    """Empty, or "HOST:PORT" / "[IPv6]:PORT" (the port is required)."""
    value = string(value).strip()
    if not value:
        return value
    match = re.fullmatch(r"(\[[0-9a-fA-F:.]+\]|[^:\[\]]+):(\d{1,5})", value)
    if not match or not 0 < int(match.group(2)) <= 65535:
        raise ValueError(f"expected HOST:PORT such as smtp.example.net:587, got {value!r}")
    host = match.group(1)
    if not host.startswith("["):
        hostname(host)
    return value


def number(minimum: float, maximum: float) -> Validator:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number, got {_type_name(value)}")
        if not minimum <= value <= maximum:
            raise ValueError(f"expected a number from {minimum} to {maximum}, got {value}")
        return float(value)
    return check


def strings(value: Any) -> list[str]:
    """A list of non-empty strings, possibly empty."""
    if not isinstance(value, list):
        raise ValueError(f"expected a list of strings, got {_type_name(value)}")
    result = []
    for item in value:
        item = string(item).strip()
        if not item:
            raise ValueError("an empty string in the list")
        result.append(item)
    return result


def _listener(name: str, default: int, what: str) -> Option:
    return Option(name, default, f"Port for {what}; 0 turns the listener off.", port)


SCHEMA: dict[str, tuple[str, list[Option]]] = {
    "server": ("The server as a whole.", [
        Option("hostname", "localhost", "The host name this server answers as (greetings, "
               "certificate, DNS records).", hostname),
        Option("data_dir", "./var", "Directory for the database, mail, keys and certificates. "
               "A relative path is taken from the working directory. $MFSERVER_DATA "
               "overrides it.", string),
    ]),
    "database": ("The account and message index database.", [
        Option("url", "", "Empty: an SQLite file in the data directory. For several nodes: "
               "postgresql://USER@HOST/DB (install the 'postgresql' extra).", database_url),
    ]),
    "tls": ("Certificates. Every listener speaks TLS (STARTTLS or implicit).", [
        Option("certificate", "", "PEM certificate chain. Empty: a self-signed certificate for "
               "server.hostname is created in the data directory (clients will warn).", string),
        Option("private_key", "", "PEM private key for the certificate.", string),
        Option("minimum_version", "TLSv1.2", "Oldest TLS version accepted.",
               choice("TLSv1.2", "TLSv1.3")),
    ]),
    "listen": ("Where the listeners bind. Unprivileged ports on loopback by default.", [
        Option("addresses", ["127.0.0.1"], "IP addresses every listener binds to.",
               ip_addresses),
        _listener("smtp", 2525, "inbound SMTP (MX, STARTTLS); 25 in production"),
        _listener("submission", 2587, "mail submission with STARTTLS; 587 in production"),
        _listener("smtps", 2465, "mail submission over implicit TLS; 465 in production"),
        _listener("imap", 2143, "IMAP with STARTTLS; 143 in production"),
        _listener("imaps", 2993, "IMAP over implicit TLS; 993 in production"),
        _listener("pop3", 2110, "POP3 with STLS; 110 in production"),
        _listener("pop3s", 2995, "POP3 over implicit TLS; 995 in production"),
        _listener("https", 8443, "HTTPS (portal, CalDAV/CardDAV, WebDAV, WKD); 443 in "
                  "production"),
        _listener("http", 0, "plain HTTP, which only redirects to HTTPS (off by default); 80 "
                  "in production"),
    ]),
    "auth": ("Logins.", [
        Option("allow_plaintext_login", False, "Allow a password login before TLS has started "
               "(never do this outside a test bench).", boolean),
        Option("failures_per_source", 10, "Failed logins from one client address before its "
               "logins are slowed down.", integer(1, 10000)),
        Option("failures_per_account", 20, "Failed logins for one account, from anywhere, "
               "before its logins are slowed down.", integer(1, 10000)),
        Option("max_delay", "15m", "Longest time a throttled client or account must wait; "
               "the throttle never locks anyone out for longer.", duration),
    ]),
    "smtp": ("The SMTP server: inbound (MX) and submission.", [
        Option("max_message_size", "50M", "Largest message accepted (announced as SIZE).",
               size),
        Option("max_recipients", 100, "Most recipients of one message; more get 452 and are "
               "sent in another transaction by the client.", integer(1, 100000)),
        Option("send_limit_per_hour", 500, "Recipients one account may send to per hour "
               "through submission; 0 means no limit.", integer(0, 10000000)),
        Option("vrfy", False, "Answer VRFY with whether an address exists here (helps "
               "address harvesters; off answers 252 as RFC 5321 allows).", boolean),
    ]),
    "imap": ("The IMAP server.", [
        Option("append_limit", "50M", "Largest message a client may upload with APPEND "
               "(announced as APPENDLIMIT).", size),
    ]),
    "dns": ("The DNS resolver used for mail checks (SPF, DKIM, DMARC) and delivery.", [
        Option("nameservers", [], "IP addresses of the name servers to ask. Empty: those of "
               "the system (/etc/resolv.conf). Use a validating resolver you trust.",
               nameservers),
        Option("port", 53, "The name servers' port (a local resolver or a test server may "
               "listen on another).", integer(1, 65535)),
        Option("timeout", "5s", "How long one lookup may take before it counts as a "
               "temporary failure.", positive_duration),
    ]),
    "dav": ("Calendars and contacts (CalDAV/CardDAV at /dav/), documents (WebDAV at /files/) "
            "and public share links (/s/).", [
        Option("max_upload", "1G", "Largest request body accepted on the HTTPS listener (a "
               "document upload); a larger one is refused with 413.", size),
        Option("max_xml", "1M", "Largest XML request body (PROPFIND, REPORT, PROPPATCH, LOCK) "
               "and largest calendar or contact item.", size),
        Option("login_cache", "60s", "How long a successful DAV login is remembered (clients "
               "send the password with every request); 0 checks it every time. A changed "
               "password or a disabled account takes effect after at most this long.",
               duration),
        Option("threads", 8, "Threads serving each of CalDAV/CardDAV, WebDAV and share links.",
               integer(1, 256)),
    ]),
    "privacy": ("What the server remembers about people.", [
        Option("log_client_ip", False, "Write client IP addresses into the log.", boolean),
        Option("received_client_ip", True, "Name the sending server's IP address in the "
               "Received header of inbound mail (helps spam analysis; it is a mail server's "
               "address, not a person's). Submitted mail never carries the client's address.",
               boolean),
    ]),
    "store": ("Mail storage.", [
        Option("default_quota", "2G", "Quota of a new account; 0 means unlimited.", size),
        Option("rescan_interval", "10m", "How often maildirs are checked for files that "
               "other programs added or removed; 0 turns it off.", duration),
    ]),
    "outbound": ("Delivery of mail to other servers (the outbound queue).", [
        Option("lifetime", "5d", "How long a message is retried before it is returned to its "
               "sender as undeliverable.", duration),
        Option("retry_base", "5m", "Wait after the first failed attempt; each further wait "
               "doubles.", duration),
        Option("retry_cap", "4h", "Longest wait between two attempts.", duration),
        Option("delay_warning", "4h", "After this long, senders who asked for delay notices "
               "(NOTIFY=DELAY) get one; 0 sends none.", duration),
        Option("remote_port", 25, "Port of the remote mail servers (25 on the Internet).",
               integer(1, 65535)),
        Option("max_connections", 20, "Most outgoing connections at once.",
               integer(1, 1000)),
        Option("max_connections_per_domain", 3, "Most outgoing connections at once to one "
               "destination domain.", integer(1, 100)),
        Option("connect_timeout", "30s", "How long to wait for a remote server to accept a "
               "connection.", duration),
        Option("command_timeout", "5m", "How long to wait for each reply of a remote server "
               "(RFC 5321 §4.5.3.2 asks for 5 minutes; 10 after the message data).", duration),
        Option("mta_sts", True, "Honour the MTA-STS policies that domains publish (RFC 8461): "
               "in enforce mode, mail goes only to the listed MX hosts over verified TLS.",
               boolean),
        Option("ca_file", "", "PEM file of certificate authorities trusted for the smarthost "
               "and MTA-STS; empty: the system's.", string),
        Option("smarthost", "", "Relay all outgoing mail through this server (HOST:PORT), for "
               "hosts whose port 25 is blocked; empty: deliver to each domain's MX.",
               host_port),
        Option("smarthost_tls", "starttls", "How to reach the smarthost: STARTTLS on a plain "
               "port (587) or implicit TLS (465). Its certificate is always verified.",
               choice("starttls", "implicit")),
        Option("smarthost_username", "", "User name for AUTH at the smarthost; empty: no "
               "AUTH.", string),
        Option("smarthost_password_file", "", "File holding the smarthost password (one "
               "line); never put the password itself here.", string),
    ]),
    "milter": ("The milter chains every message passes (docs/milter.md).", [
        Option("inbound", ["trackers", "spam", "malware"], "Milters for mail from other "
               "servers, in order: shipped plugins by short name (trackers, spam, malware), "
               "your own by dotted path (package.module), external milters as inet:HOST:PORT "
               "or unix:/PATH.", strings),
        Option("outbound", ["ipscrub", "malware"], "Milters for submitted mail, in order "
               "(ipscrub, malware, dotted paths, inet:HOST:PORT, unix:/PATH).", strings),
        Option("timeout", "30s", "How long one milter may take at one stage before its "
               "failure policy applies.", positive_duration),
        Option("fail_open", [], "Milters (as listed above) whose failure or timeout lets the "
               "message through instead of refusing it with a temporary error.", strings),
    ]),
    "trackers": ("The trackers milter (inbound): no pixels or click tracking in newsletters.", [
        Option("extra_domains", [], "Tracking domains to add to the shipped list (images "
               "from them are removed, links through them unwrapped).", strings),
    ]),
    "ipscrub": ("The ipscrub milter (outbound): the sender's address leaves no trace.", [
        Option("strip_user_agent", False, "Also remove User-Agent and X-Mailer (they name "
               "the sender's software and often its version).", boolean),
    ]),
    "spam": ("The spam milter (inbound): scores, Junk, allow and block lists.", [
        Option("dnsbl", [], "DNS blocklist zones to ask about the sending server's address "
               "(e.g. zen.spamhaus.org); each listing adds dnsbl_score.", strings),
        Option("dnsbl_score", 3.0, "Score added per blocklist that lists the sender.",
               number(0, 100)),
        Option("junk_score", 5.0, "From this score on, the message is filed into Junk.",
               number(0, 1000)),
        Option("reject_score", 15.0, "From this score on, the message is refused at SMTP "
               "(550 5.7.1); 0 never refuses.", number(0, 1000)),
        Option("add_headers", True, "Add X-Spam-Score and X-Spam-Status to inbound mail.",
               boolean),
        Option("bayes_min_messages", 10, "Junk and non-junk messages an account must have "
               "trained before its Bayesian classifier counts.", integer(0, 100000)),
    ]),
    "malware": ("The malware milter (inbound and outbound).", [
        Option("clamd", "", "clamd to scan with (INSTREAM): unix:/PATH or HOST:PORT; empty: "
               "only the built-in checks.", string),
        Option("action", "reject", "What happens to an infected message: reject it at SMTP "
               "(554 5.7.1) or quarantine it (inbound: into the quarantine folder; outbound: "
               "held and refused).", choice("reject", "quarantine")),
        Option("quarantine_folder", "Quarantine", "Folder for quarantined inbound mail.",
               string),
        Option("block_dangerous", True, "Refuse executables, scripts, shortcuts, disk images "
               "and macro-enabled Office files, also inside zip archives.", boolean),
        Option("max_archive_depth", 3, "Zip archives inside zip archives looked into.",
               integer(0, 20)),
        Option("max_archive_members", 1000, "Files looked at in one message's archives.",
               integer(1, 1000000)),
        Option("max_expanded_size", "100M", "Bytes unpacked from one message's archives; "
               "an archive past the limit counts as dangerous (archive bomb).", size),
    ]),
    "log": ("Logging.", [
        Option("level", "info", "Least important messages written.",
               choice("debug", "info", "warn", "error")),
    ]),
}
