"""A DNS server on 127.0.0.1 for servers that tests run as subprocesses: the outside world's
DNS, answered from fixed records (the same `{(name, type): [values]}` form as
`mfserver.resolver.StaticResolver`, values in zone-file presentation form).

Unknown names answer NXDOMAIN; known names without the asked type answer NOERROR with no
records. UDP and TCP on the same port; answers over UDP are sent whole (dnspython accepts
them), so long TXT records (DKIM keys) need no TCP retry.
"""

from __future__ import annotations

import shlex
import socketserver
import threading
from collections.abc import Mapping

import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


def _quoted_txt(value: str) -> str:
    """A TXT value as presentation text: split into 255-octet strings, quoted."""
    data = value.encode()
    chunks = [data[index:index + 255] for index in range(0, len(data), 255)] or [b""]
    return " ".join('"' + chunk.decode().replace("\\", "\\\\").replace('"', '\\"') + '"'
                    for chunk in chunks)


def _presentation(rtype: str, value: str) -> str:
    if rtype == "TXT":
        return _quoted_txt(value)
    if rtype in ("MX", "CNAME", "PTR") and not value.endswith("."):
        return value + "."
    return value


def zone_records(lines: list[str]) -> dict[tuple[str, str], list[str]]:
    """Zone-file lines (`NAME IN TYPE DATA`, as `mfserver dns` prints them) as records in the
    resolver's form; comments skipped."""
    records: dict[tuple[str, str], list[str]] = {}
    for line in lines:
        if not line or line.startswith(";"):
            continue
        name, klass, rtype, data = line.split(None, 3)
        assert klass == "IN"
        if rtype == "TXT":
            data = "".join(shlex.split(data))
        elif rtype in ("MX", "CNAME"):
            data = data.rstrip(".")
        records.setdefault((name.rstrip(".").lower(), rtype), []).append(data)
    return records


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class _UDPServer(socketserver.ThreadingUDPServer):
    daemon_threads = True


def _bind_pair(udp_handler: type, tcp_handler: type,
               ) -> tuple[socketserver.ThreadingUDPServer, socketserver.ThreadingTCPServer]:
    """UDP and TCP servers on one free port: the TCP one takes a free port, the UDP one the
    same number; tried again with another port when that number is taken for UDP."""
    for _ in range(50):
        tcp = _TCPServer(("127.0.0.1", 0), tcp_handler)
        try:
            udp = _UDPServer(("127.0.0.1", tcp.server_address[1]), udp_handler)
        except OSError:
            tcp.server_close()
            continue
        return udp, tcp
    raise OSError("no port free for both UDP and TCP")


class FakeDNS:
    def __init__(self, records: Mapping[tuple[str, str], list[str]] | None = None) -> None:
        self.records: dict[tuple[str, str], list[str]] = {}
        for (name, rtype), values in (records or {}).items():
            self.add(name, rtype, *values)
        fake = self

        class UDPHandler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                sock.sendto(fake.answer(data), self.client_address)

        class TCPHandler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                length = int.from_bytes(self.request.recv(2), "big")
                data = b""
                while len(data) < length:
                    chunk = self.request.recv(length - len(data))
                    if not chunk:
                        return
                    data += chunk
                reply = fake.answer(data)
                self.request.sendall(len(reply).to_bytes(2, "big") + reply)

        self.udp, self.tcp = _bind_pair(UDPHandler, TCPHandler)
        self.port = self.udp.server_address[1]
        self.queries: list[tuple[str, str]] = []

    def add(self, name: str, rtype: str, *values: str) -> None:
        self.records.setdefault((name.rstrip(".").lower(), rtype.upper()), []).extend(values)

    def answer(self, wire: bytes) -> bytes:
        query = dns.message.from_wire(wire)
        response = dns.message.make_response(query)
        question = query.question[0]
        name = question.name.to_text().rstrip(".").lower()
        rtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, rtype))
        values = self.records.get((name, rtype))
        if values:
            texts = [_presentation(rtype, value) for value in values]
            response.answer.append(dns.rrset.from_text_list(question.name, 300, "IN", rtype,
                                                            texts))
        elif not any(known == name for known, _ in self.records):
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response.to_wire()

    def start(self) -> FakeDNS:
        for server in (self.udp, self.tcp):
            threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        for server in (self.udp, self.tcp):
            server.shutdown()
            server.server_close()

    def config(self) -> dict[str, object]:
        """The `[dns]` section that points a server at this one."""
        return {"nameservers": ["127.0.0.1"], "port": self.port, "timeout": "2s"}


