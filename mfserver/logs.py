"""Logging that keeps people's addresses out: the observer twistd uses, and peer formatting.

Implementation notes:
- Protocol code never formats a client address itself: it logs `peer(address)`, which is the
  address only when `[privacy] log_client_ip` is on, else "-".
- As a second line of defence the observer rewrites any IPv4 or IPv6 address in a formatted
  event to "[address]" unless that option is on, whatever component wrote it (Twisted's own
  messages included). The server's own listening addresses are hidden too; that is the price.
- Secrets are never passed to the logger at all; nothing here can recognise them.
"""

from __future__ import annotations

import ipaddress
import re
import sys
from typing import IO, Any

from twisted.logger import (
    FilteringLogObserver,
    ILogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    formatEvent,
    textFileLogObserver,
)
from zope.interface import implementer

_LEVELS = {"debug": LogLevel.debug, "info": LogLevel.info, "warn": LogLevel.warn,
           "error": LogLevel.error}
_CANDIDATE = re.compile(
    r"(?<![\w.:])(?:\d{1,3}(?:\.\d{1,3}){3}|"
    r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:%\w+)?)(?![\w.:])")


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return False
    return True


def scrub_addresses(text: str) -> str:
    """`text` with every IP address replaced by "[address]"."""
    return _CANDIDATE.sub(
        lambda match: "[address]" if _is_address(match.group(0)) else match.group(0), text)


_log_client_ip = False


def configure_peer_logging(log_client_ip: bool) -> None:
    global _log_client_ip
    _log_client_ip = log_client_ip


def peer(address: Any) -> str:
    """What to write in a log for a client's address (an IAddress, a string or None)."""
    if not _log_client_ip or address is None:
        return "-"
    host = getattr(address, "host", address)
    return str(host)


@implementer(ILogObserver)
class ScrubbingObserver:
    """Passes events on with IP addresses removed from their text."""

    def __init__(self, observer: ILogObserver) -> None:
        self._observer = observer

    def __call__(self, event: dict[str, Any]) -> None:
        text = formatEvent(event)
        scrubbed = scrub_addresses(text)
        failure = event.get("log_failure")
        if failure is not None:
            trace = failure.getTraceback()
            if scrub_addresses(trace) != trace:
                scrubbed = f"{scrubbed}\n{scrub_addresses(trace)}"
                event = {key: value for key, value in event.items() if key != "log_failure"}
        if scrubbed != text:
            event = dict(event, log_format="{mfserver_text}", mfserver_text=scrubbed)
        self._observer(event)


def make_observer(level: str, log_client_ip: bool, stream: IO[str] | None = None) -> ILogObserver:
    """The observer for the whole process: level filter, then address scrubbing, then text."""
    configure_peer_logging(log_client_ip)
    observer: ILogObserver = textFileLogObserver(stream or sys.stdout)
    if not log_client_ip:
        observer = ScrubbingObserver(observer)
    predicate = LogLevelFilterPredicate(defaultLogLevel=_LEVELS[level])
    return FilteringLogObserver(observer, [predicate])
