"""MTA-STS discovery, policy parsing, MX matching and the persistent cache (RFC 8461)."""

from __future__ import annotations

import http.server
import ssl
import threading

import pytest

from mfserver.outbound.mtasts import MtaSts, PolicyError, fetch_https, parse_policy, parse_txt
from mfserver.resolver import StaticResolver

POLICY = b"version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmax_age: 600\n"


def test_txt_record_discovery():
    assert parse_txt(["v=STSv1; id=20160831085700Z;"]) == "20160831085700Z"
    assert parse_txt(["something else", "v=STSv1;id=abc"]) == "abc"
    assert parse_txt([]) is None
    assert parse_txt(["v=STSv1; id=a", "v=STSv1; id=b"]) is None  # §3.1: more than one
    assert parse_txt(["v=STSv1; id=not valid!"]) is None


def test_policy_parsing_and_matching():
    policy = parse_policy(POLICY, "1")
    assert (policy.mode, policy.max_age) == ("enforce", 600)
    assert policy.allows("mail.example.com") and policy.allows("MX1.example.net.")
    assert not policy.allows("a.b.example.net") and not policy.allows("example.net")
    assert not policy.allows("mail.example.com.evil")


@pytest.mark.parametrize("body", [
    b"version: STSv2\nmode: enforce\nmx: a\nmax_age: 1\n",
    b"version: STSv1\nmode: strict\nmx: a\nmax_age: 1\n",
    b"version: STSv1\nmode: enforce\nmax_age: 1\n",
    b"version: STSv1\nmode: enforce\nmx: a\nmax_age: 99999999\n",
    b"version: STSv1\nmode: enforce\nmx: a\n",
    b"\xff\xfe",
])
def test_bad_policies_are_refused(body):
    with pytest.raises(PolicyError):
        parse_policy(body, "1")


def test_policies_are_cached_in_the_database(database):
    now = [1_700_000_000]
    fetched = []

    def fetch(url: str) -> bytes:
        fetched.append(url)
        return POLICY

    resolver = StaticResolver({("_mta-sts.example.com", "TXT"): ["v=STSv1; id=one"]})
    sts = MtaSts(database, resolver, fetch, now=lambda: now[0])
    assert sts.policy("example.com").id == "one"
    assert fetched == ["https://mta-sts.example.com/.well-known/mta-sts.txt"]
    # a new process: the cache is in the database, the unchanged id needs no fetch
    again = MtaSts(database, resolver, fetch, now=lambda: now[0])
    assert again.policy("example.com").mode == "enforce" and len(fetched) == 1
    # discovery blocked: the cached policy still holds until max_age ends
    resolver.records.clear()
    assert again.policy("example.com").id == "one"
    now[0] += 600
    assert again.policy("example.com") is None


def test_a_failing_fetch_without_cache_means_no_policy(database):
    def fetch(url: str) -> bytes:
        raise OSError("connection refused")

    resolver = StaticResolver({("_mta-sts.example.com", "TXT"): ["v=STSv1; id=one"]})
    assert MtaSts(database, resolver, fetch).policy("example.com") is None


@pytest.fixture
def policy_server(ca, tmp_path):
    """An HTTPS server on localhost with a trustme certificate and a few fixed answers."""
    answers = {
        "/.well-known/mta-sts.txt": (200, "text/plain", POLICY),
        "/html": (200, "text/html", POLICY),
        "/big": (200, "text/plain", b"x" * (64 * 1024 + 1)),
        "/moved": (301, "text/plain", b""),
    }

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, kind, body = answers.get(self.path, (404, "text/plain", b""))
            self.send_response(status)
            self.send_header("Content-Type", kind)
            if status == 301:
                self.send_header("Location", "/.well-known/mta-sts.txt")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None: ...

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    yield f"https://localhost:{server.server_address[1]}", str(cafile)
    server.shutdown()
    server.server_close()


def test_the_real_fetcher_checks_what_it_gets(policy_server):
    base, cafile = policy_server
    assert fetch_https(base + "/.well-known/mta-sts.txt", cafile=cafile) == POLICY
    for path, reason in (("/html", "content type"), ("/big", "64 KiB"), ("/moved", "HTTP 301"),
                         ("/none", "HTTP 404")):
        with pytest.raises(OSError, match=reason):
            fetch_https(base + path, cafile=cafile)
    with pytest.raises(OSError):  # the system's CAs do not know the test CA
        fetch_https(base + "/.well-known/mta-sts.txt")
