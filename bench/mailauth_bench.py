"""Mail-authentication bench: milliseconds per 10 KB message to sign and to check.

    python bench/mailauth_bench.py [--messages N] [--size BYTES]

Sign: `sign_message` with the two keys `mfserver init` creates (RSA-2048 and Ed25519), as
submission does for every outgoing message. Check: `check_message` on each signed message with
a fixed DNS (`StaticResolver` holding the published records), so the figure is our CPU cost
(SPF evaluation, two DKIM verifications, ARC, DMARC, the header), without network time.
Also timed: DKIM verification alone.

The peer, on the same signed files in the same run, is OpenDKIM's verifier (`opendkim -t` with
`TestPublicKeys`, one process for all messages, so process start-up is spread over N): it does
the DKIM part only, in C. The ratio compares it with our DKIM verification alone. Skipped with
a note when opendkim is not installed.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mfserver import dkimkeys  # noqa: E402
from mfserver.mailauth import check_message, sign_message  # noqa: E402
from mfserver.mailauth.dkimcheck import verify_signatures  # noqa: E402
from mfserver.resolver import StaticResolver  # noqa: E402

DOMAIN = "example.com"


def message(number: int, size: int) -> bytes:
    header = (f"From: Alice <alice@{DOMAIN}>\r\nTo: Bob <bob@example.org>\r\n"
              f"Subject: bench {number}\r\nDate: Mon, 02 Jan 2023 10:00:00 +0100\r\n"
              f"Message-ID: <{number}@{DOMAIN}>\r\nMIME-Version: 1.0\r\n"
              f"Content-Type: text/plain; charset=utf-8\r\n\r\n").encode()
    line = b"The quick brown fox jumps over the lazy dog, again and again. 0123456789\r\n"
    return header + line * ((size - len(header)) // len(line) + 1)


def timed(label: str, items: list, work) -> float:
    start = time.perf_counter()
    for item in items:
        work(item)
    per_message = (time.perf_counter() - start) * 1000 / len(items)
    print(f"{label:<44} {per_message:8.2f} ms/message")
    return per_message


def opendkim_peer(directory: Path, signed: list[bytes], keys) -> float | None:
    opendkim = shutil.which("opendkim") or "/usr/sbin/opendkim"
    if not Path(opendkim).exists():
        print("opendkim not installed: no peer figure")
        return None
    (directory / "keys").write_text("".join(
        f"{key.selector}._domainkey.{DOMAIN} {key.txt_record()}\n" for key in keys))
    (directory / "opendkim.conf").write_text(
        f"Mode v\nTestPublicKeys {directory / 'keys'}\nSyslog no\nNameservers 127.0.0.1\n")
    paths = []
    for number, data in enumerate(signed):
        path = directory / f"m{number}.eml"
        path.write_bytes(data)
        paths.append(str(path))
    start = time.perf_counter()
    run = subprocess.run([opendkim, "-x", str(directory / "opendkim.conf"), "-t",
                          ",".join(paths), "-v"], capture_output=True, text=True)
    per_message = (time.perf_counter() - start) * 1000 / len(signed)
    verified = (run.stdout + run.stderr).count("succeeded")
    print(f"{'peer: opendkim -t (DKIM only, ' + str(verified) + ' verified)':<44} "
          f"{per_message:8.2f} ms/message")
    return per_message


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--size", type=int, default=10 * 1024)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        directory = Path(temp)
        keys = dkimkeys.create_keys(directory, DOMAIN)
        records = {(f"{key.selector}._domainkey.{DOMAIN}", "TXT"): [key.txt_record()]
                   for key in keys}
        records.update({(DOMAIN, "TXT"): ["v=spf1 mx -all"],
                        (DOMAIN, "MX"): [f"10 mx.{DOMAIN}"], (f"mx.{DOMAIN}", "A"): ["192.0.2.1"],
                        (f"_dmarc.{DOMAIN}", "TXT"): ["v=DMARC1; p=quarantine; adkim=s; aspf=s"]})
        resolver = StaticResolver(records)
        messages = [message(number, args.size) for number in range(args.messages)]
        print(f"{args.messages} messages of {len(messages[0])} bytes, fixed DNS")
        signed: list[bytes] = []
        timed("sign (RSA-2048 + Ed25519)", messages,
              lambda m: signed.append(sign_message(m, DOMAIN, keys)))
        results = []
        timed("check_message (SPF, 2x DKIM, ARC, DMARC)", signed,
              lambda m: results.append(check_message(
                  m, client_ip="192.0.2.1", helo=f"mx.{DOMAIN}", mail_from=f"alice@{DOMAIN}",
                  resolver=resolver, authserv_id="mx.example.net")))
        assert all(r.dmarc.result == "pass" for r in results), "bench messages must pass"
        ours = timed("DKIM verification alone (2 signatures)", signed,
                     lambda m: verify_signatures(m, resolver))
        peer = opendkim_peer(directory, signed, keys)
        if peer:
            print(f"ratio ours / opendkim (DKIM verification): {ours / peer:.1f}x")


if __name__ == "__main__":
    main()
