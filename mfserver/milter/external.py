"""External milters (opendkim, rspamd, clamav-milter...) over the milter protocol, version 6.

Implementation notes:
- One conversation per message, held at the end of the message: negotiation, then connect,
  helo, mail, rcpt, data, headers, end of headers, body and end of body, each with the macros
  Postfix sends (j, _, {daemon_name}, i, {auth_type}, {auth_authen}, {mail_addr},
  {rcpt_addr}...), then QUIT. The envelope stages therefore reach the milter with the
  message; a refusal at connect, helo or mail refuses the message, one at rcpt drops that
  recipient (as Postfix would have refused it).
- Steps the milter asked to skip (SMFIP_NO*) are not sent, and steps it will not answer
  (SMFIP_NR_*) are not waited for. Header values go as Postfix sends them: folding as LF,
  one leading space dropped unless the milter negotiated SMFIP_HDR_LEADSPC.
- The conversation is blocking socket I/O and runs in the thread pool, with the chain's
  timeout on every read; the modifications the milter asked for (add/insert/change header,
  replace body, add/delete recipient, quarantine) are applied afterwards on the reactor
  thread, in the order received.
- SMFIR_ACCEPT ends this milter's conversation, not the chain (as in Postfix, later milters
  still run). SMFIR_QUARANTINE files inbound mail into Quarantine and holds submitted mail.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field
from typing import Any

from mfserver.milter import protocol as p
from mfserver.milter.api import (
    CONTINUE,
    Action,
    Direction,
    Envelope,
    FailurePolicy,
    Peer,
    Verdict,
    discard,
    quarantine,
    reject,
    tempfail,
)
from mfserver.milter.message import MilterMessage

QUARANTINE_FOLDER = "Quarantine"


def parse_address(entry: str) -> tuple[int, Any]:
    """`inet:HOST:PORT` / `unix:/PATH` as (socket family, address); ValueError if bad."""
    if entry.startswith("unix:"):
        path = entry[5:]
        if not path.startswith("/"):
            raise ValueError("unix: needs an absolute path")
        return socket.AF_UNIX, path
    host, _, port = entry[5:].rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("expected inet:HOST:PORT")
    return (socket.AF_INET6 if ":" in host else socket.AF_INET), (host, int(port))


@dataclass
class Outcome:
    verdict: Verdict = CONTINUE
    modifications: list[p.Reply] = field(default_factory=list)
    refused_recipients: list[str] = field(default_factory=list)


@dataclass
class Snapshot:
    """What the conversation needs, copied on the reactor thread."""

    peer: Peer
    envelope: Envelope
    recipients: list[str]
    headers: list[tuple[str, bytes]]  # name, raw value (after the colon, folding kept)
    body: bytes

    @classmethod
    def of(cls, message: MilterMessage) -> Snapshot:
        return cls(message.peer, message.envelope, [r.address for r in message.recipients],
                   [(name, raw.partition(b":")[2].removesuffix(b"\r\n"))
                    for (name, _), raw in zip(message.headers, message.fields, strict=True)],
                   message.body)


class Conversation:
    def __init__(self, family: int, address: Any, timeout: float) -> None:
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(address)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise p.ProtocolError("the milter closed the connection")
            data += chunk
        return data

    def read(self) -> p.Reply:
        while True:
            reply = p.parse_reply(self._exactly(p.read_length(self._exactly(4))))
            if reply.code != p.PROGRESS:
                return reply

    def close(self) -> None:
        try:
            self.send(p.packet(p.QUIT))
        except OSError:
            pass
        self.sock.close()


def converse(family: int, address: Any, timeout: float, snap: Snapshot) -> Outcome:
    """The whole blocking conversation for one message."""
    talk = Conversation(family, address, timeout)
    try:
        return _converse(talk, snap)
    finally:
        talk.close()


def _verdict(reply: p.Reply) -> Verdict | None:
    """The verdict of a final reply; None for continue/accept/skip."""
    if reply.code == p.REJECT:
        return reject(550, "Message rejected by a content filter", "5.7.1")
    if reply.code == p.TEMPFAIL:
        return tempfail(451, "Content filter says try again later", "4.7.1")
    if reply.code == p.DISCARD:
        return discard()
    if reply.code == p.REPLYCODE:
        code, enhanced, text = p.reply_code(reply.strings()[0] if reply.data else "")
        if code >= 500:
            return reject(code, text or "Message rejected", enhanced or "5.7.1")
        return tempfail(code, text or "Try again later", enhanced or "4.7.1")
    if reply.code in (p.SHUTDOWN, p.CONN_FAIL):
        return tempfail(451, "Content filter unavailable", "4.7.1")
    if reply.code in (p.CONTINUE, p.ACCEPT, p.SKIP):
        return None
    raise p.ProtocolError(f"unexpected reply {reply.code!r}")


def _macros(snap: Snapshot) -> dict[bytes, dict[str, str]]:
    peer = snap.peer
    auth = {"auth_type": "PLAIN", "auth_authen": peer.login} if peer.login else {}
    return {
        p.CONNECT: {"j": peer.server_name, "_": f"{peer.helo or 'unknown'} [{peer.address}]",
                    "daemon_name": "mfserver", "client_addr": peer.address,
                    "client_name": "unknown"},
        p.HELO: {"tls_version": "TLSv1.3" if peer.tls else None},
        p.MAIL: {"i": peer.queue_id or "NOQUEUE", "mail_addr": snap.envelope.mail_from,
                 **auth},
        p.EOH: {"i": peer.queue_id or "NOQUEUE"},
        p.BODYEOB: {"i": peer.queue_id or "NOQUEUE"},
    }


def _converse(talk: Conversation, snap: Snapshot) -> Outcome:
    talk.send(p.optneg())
    reply = talk.read()
    if reply.code != p.OPTNEG:
        raise p.ProtocolError(f"expected option negotiation, got {reply.code!r}")
    neg = p.read_optneg(reply.data)
    macros = _macros(snap)
    outcome = Outcome()

    def step(code: bytes, data: bytes, skip_flag: int, no_reply_flag: int) -> Verdict | None:
        if neg.skips(skip_flag):
            return None
        if code in macros:
            talk.send(p.macros(code, macros[code]))
        talk.send(p.packet(code, data))
        if neg.skips(no_reply_flag):
            return None
        return _verdict(talk.read()) or None

    peer = snap.peer
    envelope = snap.envelope
    mail_args = [f"<{envelope.mail_from}>"] + [
        key if value is None else f"{key}={value}" for key, value in envelope.params.items()]
    opening = [
        (p.CONNECT, p.connect(peer.helo or "unknown", peer.address, peer.port)[5:],
         p.P_NOCONNECT, p.P_NR_CONN),
        (p.HELO, p.cstrings(peer.helo or "unknown"), p.P_NOHELO, p.P_NR_HELO),
        (p.MAIL, p.cstrings(*mail_args), p.P_NOMAIL, p.P_NR_MAIL),
    ]
    for code, data, skip_flag, no_reply in opening:
        verdict = step(code, data, skip_flag, no_reply)
        if verdict is not None:
            outcome.verdict = verdict
            return outcome
    for address in snap.recipients:
        macros[p.RCPT] = {"rcpt_addr": address}
        verdict = step(p.RCPT, p.cstrings(f"<{address}>"), p.P_NORCPT, p.P_NR_RCPT)
        if verdict is not None and verdict.action in (Action.REJECT, Action.TEMPFAIL):
            outcome.refused_recipients.append(address)
    if len(outcome.refused_recipients) == len(snap.recipients):
        outcome.verdict = reject(550, "Recipients rejected by a content filter", "5.7.1")
        return outcome
    late = [(p.DATA, b"", p.P_NODATA, p.P_NR_DATA)]
    leading_space = neg.skips(p.P_HDR_LEADSPC)
    for name, raw in snap.headers:
        value = raw if leading_space else raw.removeprefix(b" ")
        late.append((p.HEADER, name.encode("utf-8", "surrogateescape") + b"\0"
                     + value.replace(b"\r\n", b"\n") + b"\0", p.P_NOHDRS, p.P_NR_HDR))
    late.append((p.EOH, b"", p.P_NOEOH, p.P_NR_EOH))
    for code, data, skip_flag, no_reply in late:
        verdict = step(code, data, skip_flag, no_reply)
        if verdict is not None:
            outcome.verdict = verdict
            return outcome
    if not neg.skips(p.P_NOBODY):
        for start in range(0, len(snap.body), p.BODY_CHUNK):
            talk.send(p.packet(p.BODY, snap.body[start:start + p.BODY_CHUNK]))
            if neg.skips(p.P_NR_BODY):
                continue
            reply = talk.read()
            if reply.code == p.SKIP:
                break
            verdict = _verdict(reply)
            if verdict is not None:
                outcome.verdict = verdict
                return outcome
    talk.send(p.macros(p.BODYEOB, macros[p.BODYEOB]))
    talk.send(p.packet(p.BODYEOB))
    while True:
        reply = talk.read()
        if reply.code in p.FINAL:
            verdict = _verdict(reply)
            if verdict is not None:
                outcome.verdict = verdict
            return outcome
        outcome.modifications.append(reply)


def apply(outcome: Outcome, message: MilterMessage) -> Verdict:
    """The milter's modifications made on the shared message; the verdict to go on with."""
    for address in outcome.refused_recipients:
        message.delete_recipient(address)
    replaced: list[bytes] = []
    verdict = outcome.verdict
    for reply in outcome.modifications:
        code = reply.code
        if code in (p.ADDHEADER, p.INSHEADER, p.CHGHEADER):
            index = None
            data = reply.data
            if code != p.ADDHEADER:
                (index,) = struct.unpack(">I", data[:4])
                data = data[4:]
            strings = p.Reply(code, data).strings()
            name, value = (strings + ["", ""])[:2]
            if not name:
                raise p.ProtocolError("header modification without a name")
            if code == p.ADDHEADER:
                message.add_header(name, value)
            elif code == p.INSHEADER:
                message.add_header(name, value, index)
            else:
                message.change_header(name, value or None, index or 1)
        elif code == p.REPLBODY:
            replaced.append(reply.data)
        elif code in (p.ADDRCPT, p.ADDRCPT_PAR):
            message.add_recipient(reply.strings()[0].strip("<>"))
        elif code == p.DELRCPT:
            message.delete_recipient(reply.strings()[0])
        elif code == p.QUARANTINE and verdict.action is Action.CONTINUE:
            reason = reply.strings()[0] if reply.data else "quarantined by a content filter"
            verdict = quarantine(QUARANTINE_FOLDER, reason)
        elif code not in (p.SETSYMLIST, p.CHGFROM):
            raise p.ProtocolError(f"unexpected modification {code!r}")
    if replaced:
        message.replace_body(b"".join(replaced))
    return verdict


class ExternalMilter:
    """A milter reached over the milter protocol; see the module notes."""

    directions = frozenset({Direction.INBOUND, Direction.OUTBOUND})
    on_failure = FailurePolicy.TEMPFAIL

    def __init__(self, entry: str, run_blocking: Any, timeout: float = 30.0) -> None:
        self.entry = entry
        self.family, self.address = parse_address(entry)
        self.run_blocking = run_blocking
        self.io_timeout = timeout

    def eom(self, message: MilterMessage) -> Any:
        done = self.run_blocking(converse, self.family, self.address, self.io_timeout,
                                 Snapshot.of(message))
        return done.addCallback(apply, message)


def external_factory(entry: str) -> Any:
    parse_address(entry)  # refuse a bad address at start-up

    def make_milter(tools: Any) -> ExternalMilter:
        return ExternalMilter(entry, tools.run_blocking, float(tools.settings.milter.timeout))
    return make_milter
