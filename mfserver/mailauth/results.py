"""The outcome of the inbound checks, and its Authentication-Results header field (RFC 8601).

Implementation notes:
- The header field is built with authres and folded here: one result per line, long lines
  broken at spaces, CRLF line ends, so it can be prepended to the message as it is.
- Privacy: the client's IP address is never written (no `smtp.remote-ip`, no `policy.iprev`);
  SPF names only `smtp.mailfrom` (the domain, without the local part) or `smtp.helo`. A HELO
  that is not a domain name (an address literal) is left out.
- Only our own words go into reasons and comments; values taken from the message (domains,
  selectors) were reduced to domain-name or base64 characters by the checks.
"""

from __future__ import annotations

from dataclasses import dataclass

import authres
import authres.arc
import authres.dmarc
from authres.core import AuthenticationResultProperty

from mfserver.mailauth.arccheck import ArcResult
from mfserver.mailauth.dkimcheck import DkimResult
from mfserver.mailauth.dmarc import DmarcResult
from mfserver.mailauth.spfcheck import SpfResult

LINE_LIMIT = 78  # RFC 5322 §2.1.1


@dataclass(frozen=True)
class AuthenticationResults:
    """SPF, DKIM (one per signature), ARC and DMARC results for one message."""

    authserv_id: str
    spf: SpfResult
    dkim: tuple[DkimResult, ...]
    arc: ArcResult
    dmarc: DmarcResult

    def header(self) -> bytes:
        """One `Authentication-Results:` field, folded and CRLF-terminated."""
        header = authres.AuthenticationResultsHeader(
            authserv_id=self.authserv_id, results=self._clauses())
        clauses = [str(result) for result in header.results]
        lines = [f"{header.HEADER_FIELD_NAME}: {header.authserv_id};"]
        for index, clause in enumerate(clauses):
            end = ";" if index < len(clauses) - 1 else ""
            lines.extend(_fold(f"\t{clause}{end}"))
        return ("\r\n".join(lines) + "\r\n").encode("utf-8")

    def _clauses(self) -> list[authres.core.AuthenticationResult]:
        clauses: list[authres.core.AuthenticationResult] = [_spf_clause(self.spf)]
        clauses += [_dkim_clause(result) for result in self.dkim] or [
            authres.DKIMAuthenticationResult(result="none")]
        clauses.append(authres.arc.ARCAuthenticationResult(result=self.arc.result))
        dmarc = self.dmarc
        comment = f"p={dmarc.policy} dis={dmarc.disposition}" if dmarc.policy else None
        clauses.append(authres.dmarc.DMARCAuthenticationResult(
            result=dmarc.result, result_comment=comment,
            header_from=dmarc.from_domain or None))
        return clauses


def _spf_clause(spf: SpfResult) -> authres.SPFAuthenticationResult:
    if spf.identity == "helo":
        return authres.SPFAuthenticationResult(result=spf.result,
                                               smtp_helo=spf.domain or None)
    return authres.SPFAuthenticationResult(result=spf.result, smtp_mailfrom=spf.domain or None)


def _dkim_clause(dkim: DkimResult) -> authres.DKIMAuthenticationResult:
    clause = authres.DKIMAuthenticationResult(
        result=dkim.result, header_d=dkim.domain or None, header_s=dkim.selector or None,
        header_a=dkim.algorithm or None)
    if dkim.b_prefix:
        clause.properties.append(AuthenticationResultProperty("header", "b", dkim.b_prefix))
    return clause


def _fold(line: str) -> list[str]:
    """`line` broken at spaces into lines of at most LINE_LIMIT characters where possible."""
    words = line.split(" ")
    lines = [words[0]]
    for word in words[1:]:
        if len(lines[-1]) + 1 + len(word) > LINE_LIMIT:
            lines.append(f"\t{word}")
        else:
            lines[-1] += f" {word}"
    return lines
