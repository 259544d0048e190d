"""One milter connection, held for one SMTP session: the blocking half of `external`.

Implementation notes:
- Every method blocks on the socket and runs in the thread pool; `external.MilterSession`
  calls them one at a time, in the SMTP session's order, so no two threads touch one
  `Conversation`. Every read has the milter timeout.
- Opening negotiates (SMFIC_OPTNEG, version 6). Then, as Postfix's milter8.c sends them:
  `connect` (SMFIC_CONNECT), `helo` at each EHLO/HELO, `mail` (SMFIC_MAIL, after an
  SMFIC_ABORT when the milter still holds a transaction), `rcpt` per recipient, `message`
  (SMFIC_DATA, a SMFIC_HEADER per field, SMFIC_EOH, SMFIC_BODY chunks, SMFIC_BODYEOB),
  `abort` (SMFIC_ABORT, only when a transaction is open) and `quit` (SMFIC_QUIT). Each
  command is preceded by its SMFIC_MACRO with the macros Postfix sends by default, narrowed
  to the ones the milter asked for in its negotiation reply, if it asked.
- Steps the milter asked to skip (SMFIP_NO*) are not sent; steps it will not answer
  (SMFIP_NR_*) are not waited for. Header values go as Postfix sends them: folding as LF,
  one leading space dropped unless the milter negotiated SMFIP_HDR_LEADSPC.
- As in Postfix, SMFIR_ACCEPT at connect or helo means "nothing more for this session"; at
  mail or rcpt "nothing more for this message". A reject/tempfail at connect or helo ends the
  milter's part of the session (the SMTP session refuses every command after it). SMFIR_DISCARD
  at mail or rcpt discards the message at its end.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any

from mfserver.milter import protocol as p
from mfserver.milter.api import (
    CONTINUE,
    Envelope,
    Peer,
    Recipient,
    Verdict,
    discard,
    reject,
    tempfail,
)

ENVELOPE_REJECTED = ("Command rejected", "Service unavailable - try again later")
MESSAGE_REJECTED = ("Message rejected by a content filter", "Content filter says try again later")


@dataclass
class Outcome:
    """The end of one message: the verdict and the modifications, in the order received."""

    verdict: Verdict = CONTINUE
    modifications: list[p.Reply] = field(default_factory=list)


@dataclass
class Snapshot:
    """What the message stage needs, copied on the reactor thread."""

    queue_id: str
    headers: list[tuple[str, bytes]]  # name, raw value (after the colon, folding kept)
    body: bytes


def verdict_of(reply: p.Reply, texts: tuple[str, str] = MESSAGE_REJECTED) -> Verdict | None:
    """The verdict of a final reply; None for continue/accept/skip."""
    if reply.code == p.REJECT:
        return reject(550, texts[0], "5.7.1")
    if reply.code == p.TEMPFAIL:
        return tempfail(451, texts[1], "4.7.1")
    if reply.code == p.DISCARD:
        return discard()
    if reply.code == p.REPLYCODE:
        code, enhanced, text = p.reply_code(reply.strings()[0] if reply.data else "")
        if code >= 500:
            return reject(code, text or texts[0], enhanced or "5.7.1")
        return tempfail(code, text or texts[1], enhanced or "4.7.1")
    if reply.code in (p.SHUTDOWN, p.CONN_FAIL):
        return tempfail(451, "Content filter unavailable", "4.7.1")
    if reply.code in (p.CONTINUE, p.ACCEPT, p.SKIP):
        return None
    raise p.ProtocolError(f"unexpected reply {reply.code!r}")


def connect_macros(peer: Peer) -> dict[str, str | None]:
    """Postfix's milter_connect_macros."""
    return {"j": peer.server_name, "_": f"unknown [{peer.address}]", "daemon_name": "mfserver",
            "v": "mfserver", "client_addr": peer.address, "client_name": "unknown"}


def mail_macros(peer: Peer, envelope: Envelope) -> dict[str, str | None]:
    """Postfix's milter_mail_macros."""
    return {"i": peer.queue_id or "NOQUEUE", "mail_addr": envelope.mail_from,
            "auth_type": "PLAIN" if peer.login else None, "auth_authen": peer.login}


def rcpt_macros(peer: Peer, recipient: Recipient) -> dict[str, str | None]:
    """Postfix's milter_rcpt_macros."""
    local = recipient.account_id is not None
    return {"i": peer.queue_id or "NOQUEUE", "rcpt_addr": recipient.address,
            "rcpt_mailer": "local" if local else "smtp",
            "rcpt_host": None if local else recipient.address.rpartition("@")[2]}


def esmtp_args(address: str, params: dict[str, str | None]) -> list[str]:
    return [f"<{address}>"] + [key if value is None else f"{key}={value}"
                               for key, value in params.items()]


class Conversation:
    """A milter connection; see the module notes. Raises OSError / ProtocolError."""

    def __init__(self, family: int, address: Any, timeout: float) -> None:
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            self.sock.settimeout(timeout)
            self.sock.connect(address)
            self.send(p.optneg())
            reply = self.read()
            if reply.code != p.OPTNEG:
                raise p.ProtocolError(f"expected option negotiation, got {reply.code!r}")
            self.neg = p.read_optneg(reply.data)
        except BaseException:
            self.sock.close()
            raise
        self.session_done = False      # accepted or refused for the whole session
        self.message_done = False      # accepted for this message
        self.discarding = False        # SMFIR_DISCARD at mail/rcpt: discard at the end
        self.in_transaction = False    # SMFIC_MAIL sent, no SMFIC_ABORT since

    # -- the socket -------------------------------------------------------------------------

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

    def _macros(self, stage: bytes, values: dict[str, str | None]) -> None:
        wanted = self.neg.macros.get(stage)
        if wanted is not None:
            names = {name.strip("{}") for name in wanted}
            values = {key: value for key, value in values.items() if key in names}
        self.send(p.macros(stage, values))  # type: ignore[arg-type]

    def step(self, code: bytes, data: bytes, skip_flag: int, no_reply_flag: int,
             macros: dict[str, str | None] | None = None,
             texts: tuple[str, str] = ENVELOPE_REJECTED) -> p.Reply | None:
        """Send one command; its final reply, or None when skipped or unanswered."""
        if self.neg.skips(skip_flag):
            return None
        if macros is not None:
            self._macros(code, macros)
        self.send(p.packet(code, data))
        if self.neg.skips(no_reply_flag):
            return None
        return self.read()

    # -- the envelope stages ----------------------------------------------------------------

    def _session_stage(self, code: bytes, data: bytes, skip: int, no_reply: int,
                       macros: dict[str, str | None] | None) -> Verdict | None:
        if self.session_done:
            return None
        reply = self.step(code, data, skip, no_reply, macros)
        if reply is None:
            return None
        verdict = verdict_of(reply, ENVELOPE_REJECTED)
        if reply.code == p.ACCEPT or (verdict is not None and verdict.code is not None):
            self.session_done = True
        return verdict

    def connect(self, peer: Peer) -> Verdict | None:
        data = p.connect("unknown", peer.address, peer.port)[5:]
        return self._session_stage(p.CONNECT, data, p.P_NOCONNECT, p.P_NR_CONN,
                                   connect_macros(peer))

    def helo(self, peer: Peer, name: str) -> Verdict | None:
        self.abort()
        return self._session_stage(p.HELO, p.cstrings(name), p.P_NOHELO, p.P_NR_HELO,
                                   {"tls_version": "TLSv1.3" if peer.tls else None})

    def _message_stage(self, reply: p.Reply | None) -> Verdict | None:
        if reply is None:
            return None
        if reply.code == p.ACCEPT:
            self.message_done = True
        verdict = verdict_of(reply, ENVELOPE_REJECTED)
        if verdict is not None and verdict.code is None:  # discard
            self.discarding, self.message_done = True, True
            return None
        return verdict

    def mail(self, peer: Peer, envelope: Envelope) -> Verdict | None:
        self.abort()
        if self.session_done:
            return None
        self.in_transaction = True
        return self._message_stage(self.step(
            p.MAIL, p.cstrings(*esmtp_args(envelope.mail_from, envelope.params)), p.P_NOMAIL,
            p.P_NR_MAIL, mail_macros(peer, envelope)))

    def rcpt(self, peer: Peer, recipient: Recipient) -> Verdict | None:
        if self.session_done or self.message_done or not self.in_transaction:
            return None
        reply = self.step(p.RCPT, p.cstrings(*esmtp_args(recipient.address, recipient.params)),
                          p.P_NORCPT, p.P_NR_RCPT, rcpt_macros(peer, recipient))
        if reply is not None and reply.code == p.ACCEPT:
            return None  # this recipient accepted; the message goes on (milter8.c)
        return self._message_stage(reply)

    # -- the message ------------------------------------------------------------------------

    def message(self, snap: Snapshot) -> Outcome:
        outcome = Outcome()
        if self.discarding:
            outcome.verdict = discard()
            return outcome
        if self.session_done or self.message_done or not self.in_transaction:
            return outcome
        queue_id = {"i": snap.queue_id}
        steps: list[tuple[bytes, bytes, int, int, dict[str, str | None] | None]] = [
            (p.DATA, b"", p.P_NODATA, p.P_NR_DATA, queue_id)]
        leading_space = self.neg.skips(p.P_HDR_LEADSPC)
        for name, raw in snap.headers:
            value = raw if leading_space else raw.removeprefix(b" ")
            steps.append((p.HEADER, name.encode("utf-8", "surrogateescape") + b"\0"
                          + value.replace(b"\r\n", b"\n") + b"\0", p.P_NOHDRS, p.P_NR_HDR,
                          None))
        steps.append((p.EOH, b"", p.P_NOEOH, p.P_NR_EOH, queue_id))
        for code, data, skip, no_reply, macros in steps:
            verdict = self._final(self.step(code, data, skip, no_reply, macros))
            if verdict is not None:
                outcome.verdict = verdict
                return outcome
        if not self.neg.skips(p.P_NOBODY):
            for start in range(0, len(snap.body), p.BODY_CHUNK):
                reply = self.step(p.BODY, snap.body[start:start + p.BODY_CHUNK], 0,
                                  p.P_NR_BODY)
                if reply is not None and reply.code == p.SKIP:
                    break
                verdict = self._final(reply)
                if verdict is not None:
                    outcome.verdict = verdict
                    return outcome
        self._macros(p.BODYEOB, queue_id)
        self.send(p.packet(p.BODYEOB))
        while True:
            reply = self.read()
            if reply.code in p.FINAL:
                outcome.verdict = verdict_of(reply) or CONTINUE
                return outcome
            outcome.modifications.append(reply)

    @staticmethod
    def _final(reply: p.Reply | None) -> Verdict | None:
        """A refusal before the end of the message (ACCEPT there ends it too)."""
        if reply is None:
            return None
        if reply.code == p.ACCEPT:
            return CONTINUE
        return verdict_of(reply)

    # -- the end of a transaction, of the session -------------------------------------------

    def abort(self) -> None:
        """SMFIC_ABORT (no reply): the milter forgets the transaction, keeps the session."""
        if self.in_transaction and not self.session_done:
            self.send(p.packet(p.ABORT))
        self.in_transaction = self.message_done = self.discarding = False

    def quit(self) -> None:
        try:
            self.send(p.packet(p.QUIT))
        except OSError:
            pass
        self.sock.close()

    def close(self) -> None:
        self.sock.close()
