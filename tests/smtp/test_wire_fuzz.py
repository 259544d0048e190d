"""Wire fuzzing: whatever a client sends, in whatever state, the server answers every line
with a well-formed reply (or 521/421 and a close), and stays in step for the next command."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.smtp.conftest import RawSMTP, SMTPServer

REPLY = re.compile(rb"^[2-5][0-9][0-9]([ -].*)?$", re.S)
VERBS = [b"EHLO", b"HELO", b"MAIL FROM:", b"RCPT TO:", b"DATA", b"BDAT", b"RSET", b"NOOP",
         b"VRFY", b"STARTTLS", b"AUTH", b"QUIT", b"HELP", b"XYZZY"]
PREFIXES = {
    "greeted": [],
    "ready": [b"EHLO fuzz.example"],
    "mail": [b"EHLO fuzz.example", b"MAIL FROM:<f@example.net>"],
    "rcpt": [b"EHLO fuzz.example", b"MAIL FROM:<f@example.net>", b"RCPT TO:<bob@example.org>"],
}
line = st.one_of(
    st.binary(max_size=200).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b"")),
    st.tuples(st.sampled_from(VERBS), st.binary(max_size=80)).map(
        lambda t: t[0] + b" " + t[1].replace(b"\n", b"").replace(b"\r", b"")))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(state=st.sampled_from(sorted(PREFIXES)), lines=st.lists(line, min_size=1, max_size=6))
def test_every_line_gets_a_reply(smtp_server: SMTPServer, state: str,
                                 lines: list[bytes]) -> None:
    raw = RawSMTP(smtp_server.smtp)
    try:
        for command in PREFIXES[state]:
            assert raw.command(command)[:1] == b"2"
        for command in lines:
            if command.upper().startswith((b"QUIT", b"DATA", b"BDAT", b"STARTTLS", b"AUTH")):
                continue  # they change the framing; their own tests cover them
            reply = raw.command(command)
            assert REPLY.match(reply), reply
            if reply.startswith((b"421", b"521")):
                return
        assert raw.command(b"NOOP").startswith(b"250")
    finally:
        raw.close()
