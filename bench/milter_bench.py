"""Milter bench: messages per second through the full inbound chain (trackers, spam,
malware) and delivery, against the bare delivery path, on the same messages in one run.

    python bench/milter_bench.py [--messages N] [--big-messages M]

Two kinds of message: a 10 KB newsletter (the corpus's Mailchimp-style one, padded with more
articles and tracked links) and a 2 MB message with a PDF-like attachment. Bare: the store's
`deliver` (maildir write + fsync + index row), as the SMTP server does with no milter. Chain:
the shipped inbound chain run in-process on the same bytes (blocking work run inline, so the
figure is CPU, database and disk, without thread hand-offs), then `deliver` of its result.
Prints msg/s for each and the overhead ratio (chain / bare time per message).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twisted.internet import defer  # noqa: E402

from mfserver.config import load_settings, render_config  # noqa: E402
from mfserver.milter import Direction, Envelope, Peer, Recipient  # noqa: E402
from mfserver.milter.config import make_chains  # noqa: E402
from mfserver.resolver import StaticResolver  # noqa: E402
from mfserver.runtime import open_runtime  # noqa: E402

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "milter"


def newsletter() -> bytes:
    raw = (CORPUS / "newsletter_mailchimp.eml").read_bytes()
    article = (b'<p>More news: <a href=3D"https://bakery.example/n?utm_source=3Dnl&amp;'
               b'utm_medium=3Demail&amp;id=3D9">read</a> about our bread and cakes.</p>\r\n')
    head, _, tail = raw.rpartition(b"</body></html>")
    while len(head) + len(tail) < 10 * 1024:
        head += article
    return head + b"</body></html>" + tail


def big() -> bytes:
    import base64
    blob = os.urandom(2 * 1024 * 1024 * 3 // 4)
    encoded = base64.encodebytes(blob).replace(b"\n", b"\r\n")
    return (b"From: frank@friends.example\r\nTo: alice@example.org\r\nSubject: report\r\n"
            b"Date: Mon, 09 Mar 2026 12:00:00 +0000\r\nMessage-ID: <big@friends.example>\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
            b"--b\r\nContent-Type: text/plain\r\n\r\nThe report.\r\n--b\r\n"
            b"Content-Type: application/pdf; name=\"report.pdf\"\r\n"
            b"Content-Disposition: attachment; filename=\"report.pdf\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded + b"--b--\r\n")


def inline(function, *args, **kwargs):
    return defer.maybeDeferred(function, *args, **kwargs)


def run(label: str, raw: bytes, count: int, runtime, chain, account: int) -> None:
    store = runtime.store
    peer = Peer(Direction.INBOUND, "192.0.2.7", 40000, helo="mx.example.net",
                server_name="mail.example.test", queue_id="Q")

    def bare() -> None:
        store.deliver(account, raw)

    def chained() -> None:
        envelope = Envelope("news@bakery.example",
                            recipients=[Recipient("alice@example.org", account)])
        results = []
        chain.message(peer, envelope, raw).addBoth(results.append)
        result = results[0]
        if isinstance(result, Exception) or hasattr(result, "raiseException"):
            result.raiseException()
        store.deliver(account, result.message, folder=result.folders.get(
            "alice@example.org", "INBOX"))

    timings = {}
    for name, step in (("bare", bare), ("chain", chained), ("bare2", bare),
                       ("chain2", chained)):
        start = time.perf_counter()
        for _ in range(count):
            step()
        timings[name] = time.perf_counter() - start
    bare_time = min(timings["bare"], timings["bare2"]) / count
    chain_time = min(timings["chain"], timings["chain2"]) / count
    print(f"{label:>18}: bare {1 / bare_time:8.1f} msg/s   chain {1 / chain_time:8.1f} msg/s"
          f"   overhead x{chain_time / bare_time:.2f} "
          f"(+{(chain_time - bare_time) * 1000:.2f} ms/message)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--big-messages", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "mfserver.toml"
        config.write_text(render_config({"server": {"data_dir": str(Path(tmp) / "data")},
                                         "milter": {"inbound": ["trackers", "spam",
                                                                "malware"]}}))
        settings = load_settings(config, environ={})
        runtime = open_runtime(settings)
        runtime.directory.add_domain("example.org")
        account = runtime.directory.add_account("alice", "bench password 1",
                                                address="alice@example.org").id
        runtime.store.provision(account)
        chains = make_chains(settings, runtime, inline, StaticResolver())
        print(f"inbound chain: {', '.join(chains.inbound.names)}")
        run("10 KB newsletter", newsletter(), args.messages, runtime, chains.inbound, account)
        run("2 MB attachment", big(), args.big_messages, runtime, chains.inbound, account)
        runtime.close()


if __name__ == "__main__":
    main()
