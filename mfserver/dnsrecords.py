"""The DNS records an admin publishes for a domain, as zone-file lines.

Implementation notes:
- Service records follow RFC 6186 (IMAP/POP3/submission) and RFC 6764 (CalDAV/CardDAV, with a
  TXT `path=`); a listener that is off is published as "not available" (target ".").
- SPF allows the domain's MX hosts only (`-all`); DMARC starts at `p=quarantine` with strict
  alignment; no report address is suggested, since reports name the people who mailed you.
- TXT values longer than 255 octets are split into several strings (RFC 4408 3.1.3).
"""

from __future__ import annotations

from mfserver.config import Settings
from mfserver.dkimkeys import DkimKey


def _txt(value: str) -> str:
    chunks = [value[i:i + 255] for i in range(0, len(value), 255)] or [""]
    return " ".join(f'"{chunk}"' for chunk in chunks)


def _srv(name: str, port: int, host: str) -> str:
    if not port:
        return f"{name} IN SRV 0 0 0 ."
    return f"{name} IN SRV 0 1 {port} {host}."


def domain_records(domain: str, settings: Settings, keys: list[DkimKey]) -> list[str]:
    """Zone-file lines for `domain`, with `settings.server.hostname` as the mail host."""
    host = settings.server.hostname
    listen = settings.listen
    zone = f"{domain}."
    lines = [
        f"; DNS records for {domain}. {host} must also have A/AAAA records, and the reverse",
        f"; (PTR) record of its public address should name {host}.",
        f"{zone} IN MX 10 {host}.",
        f"{zone} IN TXT {_txt('v=spf1 mx -all')}",
    ]
    lines += [f"{key.selector}._domainkey.{zone} IN TXT {_txt(key.txt_record())}"
              for key in keys]
    lines += [
        f"_dmarc.{zone} IN TXT {_txt('v=DMARC1; p=quarantine; adkim=s; aspf=s')}",
        "; Mail client autoconfiguration and service discovery (RFC 6186, RFC 6764)",
        f"autoconfig.{zone} IN CNAME {host}.",
        f"autodiscover.{zone} IN CNAME {host}.",
        _srv(f"_imaps._tcp.{zone}", listen.imaps, host),
        _srv(f"_imap._tcp.{zone}", listen.imap, host),
        _srv(f"_pop3s._tcp.{zone}", listen.pop3s, host),
        _srv(f"_pop3._tcp.{zone}", listen.pop3, host),
        _srv(f"_submissions._tcp.{zone}", listen.smtps, host),
        _srv(f"_submission._tcp.{zone}", listen.submission, host),
        _srv(f"_caldavs._tcp.{zone}", listen.https, host),
        f"_caldavs._tcp.{zone} IN TXT {_txt('path=/dav/')}",
        _srv(f"_carddavs._tcp.{zone}", listen.https, host),
        f"_carddavs._tcp.{zone} IN TXT {_txt('path=/dav/')}",
        "; OpenPGP Web Key Directory (advanced method); the certificate must cover this name",
        f"openpgpkey.{zone} IN CNAME {host}.",
    ]
    return lines
