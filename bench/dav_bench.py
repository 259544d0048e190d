"""DAV bench: mfserver's mounted Radicale and WsgiDAV against the same two standalone, same data.

    pip install cheroot requests             # WsgiDAV's own server, and the bench's client
    python bench/dav_bench.py [--events 10000] [--documents 200] [--propfinds 5] [--reports 10]

The servers, all HTTPS on 127.0.0.1 with the same self-signed certificate:
- mfserver: `twistd -ny mfserver.tac` (tests.harness) on a temporary data directory; Radicale
  at /dav/ and WsgiDAV at /files/ behind the gate (login through the portal, then the login
  cache), each in its own thread pool.
- Radicale 3.9 standalone (`python -m radicale`, its own server): htpasswd (plain) auth,
  owner_only rights, filesystem storage.
- WsgiDAV 4.4 standalone on cheroot (8 threads): one FilesystemProvider share, its simple
  domain controller with Basic auth.

Data (not timed): a calendar of `--events` one-hour events spread over 2030, written as item
files straight into Radicale's filesystem layout (one .ics per event, as PUT would leave them)
and copied to both Radicale instances; an untimed PROPFIND and REPORT then build Radicale's
item caches on both. Documents: `--documents` PUTs then GETs of 1 MiB on one keep-alive
connection per server.

Timed, one client, one keep-alive connection, back to back:
  propfind  PROPFIND Depth 1 on the calendar (getetag, getcontenttype)
  report    calendar-query REPORT with a one-month time-range (RFC 4791 9.9)
  put 1MB   PUT of a 1 MiB document (new name each time)
  get 1MB   GET of those documents
and prints per operation the median and mean of both and the ratio mfserver/standalone
(time: below 1.1 means mounting costs little), and MB/s for the documents.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402
import urllib3  # noqa: E402

from tests.harness import LISTENERS, Server, cli, free_port, write_config  # noqa: E402

urllib3.disable_warnings()
USER, PASSWORD = "bench", "bench password 1"
MIB = 1024 * 1024
PROPFIND = b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/>' \
           b'<D:getcontenttype/></D:prop></D:propfind>'
REPORT = b"""<?xml version="1.0"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
 <D:prop><D:getetag/><C:calendar-data/></D:prop>
 <C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">
  <C:time-range start="20300601T000000Z" end="20300701T000000Z"/>
 </C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"""


def write_calendar(folder: Path, events: int) -> None:
    """A Radicale collection of `events` items, as the filesystem storage keeps them."""
    folder.mkdir(parents=True)
    (folder / ".Radicale.props").write_text(json.dumps({"tag": "VCALENDAR",
                                                        "D:displayname": "big"}))
    start = datetime(2030, 1, 1, 8)
    step = timedelta(minutes=(365 * 24 * 60) // events)
    for number in range(events):
        uid = uuid.UUID(int=number).hex
        begin = start + step * number
        (folder / f"{uid}.ics").write_text(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20300101T000000Z\r\n"
            f"DTSTART:{begin:%Y%m%dT%H%M%SZ}\r\nDTEND:{begin + timedelta(hours=1):%Y%m%dT%H%M%SZ}"
            f"\r\nSUMMARY:event {number}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def wait_for(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, verify=False, timeout=5)
            return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise SystemExit(f"nothing answers at {url}")


def start_mfserver(base: Path) -> tuple[Server, str, str]:
    port = free_port()
    ports = {name: 0 for name in LISTENERS}
    ports["https"] = port
    config = write_config(base / "mfserver", ports=ports)
    cli("user", "add", USER, "--password-stdin", config=config, stdin=PASSWORD, check=True)
    server = Server(config).start(wait_for=port)
    root = f"https://127.0.0.1:{port}"
    return server, f"{root}/dav/{USER}/big/", f"{root}/files/{USER}/"


def start_radicale(base: Path, cert: Path, key: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    (base / "users").write_text(f"{USER}:{PASSWORD}\n")
    (base / "radicale.conf").write_text(textwrap.dedent(f"""
        [server]
        hosts = 127.0.0.1:{port}
        ssl = True
        certificate = {cert}
        key = {key}
        [auth]
        type = htpasswd
        htpasswd_filename = {base / "users"}
        htpasswd_encryption = plain
        delay = 0
        [rights]
        type = owner_only
        [storage]
        filesystem_folder = {base / "radicale"}
        [web]
        type = none
        [logging]
        level = warning
        """))
    process = subprocess.Popen([sys.executable, "-m", "radicale", "--config",
                                str(base / "radicale.conf")], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    wait_for(f"https://127.0.0.1:{port}/")
    return process, f"https://127.0.0.1:{port}/{USER}/big/"


WSGIDAV = """
import sys
from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter
from wsgidav.wsgidav_app import WsgiDAVApp
port, root, cert, key, user, password = sys.argv[1:]
app = WsgiDAVApp({"provider_mapping": {"/" + user: root},
    "simple_dc": {"user_mapping": {"*": {user: {"password": password}}}},
    "http_authenticator": {"accept_digest": False, "default_to_digest": False},
    "property_manager": True, "lock_storage": True, "dir_browser": {"enable": False},
    "verbose": 1, "logging": {"enable": False}})
server = wsgi.Server(("127.0.0.1", int(port)), app, numthreads=8)
server.ssl_adapter = BuiltinSSLAdapter(cert, key)
server.safe_start()
"""


def start_wsgidav(base: Path, cert: Path, key: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    root = base / "wsgidav"
    root.mkdir()
    process = subprocess.Popen([sys.executable, "-c", WSGIDAV, str(port), str(root), str(cert),
                                str(key), USER, PASSWORD], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    wait_for(f"https://127.0.0.1:{port}/")
    return process, f"https://127.0.0.1:{port}/{USER}/"


def timed(session: requests.Session, method: str, url: str, body: bytes | None = None,
          headers: dict | None = None, expect: tuple[int, ...] = (200, 201, 204, 207)) -> float:
    begin = time.perf_counter()
    response = session.request(method, url, data=body, headers=headers, verify=False)
    response.content  # noqa: B018 - read it all
    elapsed = time.perf_counter() - begin
    if response.status_code not in expect:
        raise SystemExit(f"{method} {url}: {response.status_code} {response.text[:200]}")
    return elapsed


def session() -> requests.Session:
    client = requests.Session()
    client.verify = False
    client.auth = (USER, PASSWORD)
    return client


def calendar_load(url: str, propfinds: int, reports: int) -> dict[str, list[float]]:
    client = session()
    depth1 = {"Depth": "1", "Content-Type": "application/xml"}
    timed(client, "PROPFIND", url, PROPFIND, depth1)  # warm-up: builds Radicale's caches
    timed(client, "REPORT", url, REPORT, depth1)
    return {"propfind": [timed(client, "PROPFIND", url, PROPFIND, depth1)
                         for _ in range(propfinds)],
            "report": [timed(client, "REPORT", url, REPORT, depth1) for _ in range(reports)]}


def document_load(url: str, count: int) -> dict[str, list[float]]:
    client = session()
    payload = os.urandom(MIB)
    timed(client, "PUT", url + "warm-up.bin", payload)
    puts = [timed(client, "PUT", f"{url}doc{n}.bin", payload) for n in range(count)]
    gets = [timed(client, "GET", f"{url}doc{n}.bin") for n in range(count)]
    return {"put 1MB": puts, "get 1MB": gets}


def report(mounted: dict[str, list[float]], alone: dict[str, list[float]], peer: str) -> None:
    for name, ours in mounted.items():
        theirs = alone[name]
        p50, q50 = statistics.median(ours), statistics.median(theirs)
        line = (f"{name:9} mfserver p50 {p50 * 1000:8.1f} ms mean {statistics.mean(ours) * 1000:8.1f}"
                f" | {peer:17} p50 {q50 * 1000:8.1f} ms mean "
                f"{statistics.mean(theirs) * 1000:8.1f} | ratio p50 {p50 / q50:5.2f}")
        if name.endswith("1MB"):
            line += f" | {1 / statistics.mean(ours):6.0f} vs {1 / statistics.mean(theirs):6.0f} MB/s"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--documents", type=int, default=200)
    parser.add_argument("--propfinds", type=int, default=5)
    parser.add_argument("--reports", type=int, default=10)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="dav-bench-"))
    processes: list = []
    server = None
    try:
        server, calendar_url, files_url = start_mfserver(base)
        data = base / "mfserver"
        cert, key = data / "tls" / "selfsigned.pem", data / "tls" / "selfsigned.key"
        seed = base / "seed" / "big"
        write_calendar(seed, args.events)
        shutil.copytree(seed, data / "dav" / "collection-root" / USER / "big")
        radicale, radicale_url = start_radicale(base, cert, key)
        processes.append(radicale)
        shutil.copytree(seed, base / "radicale" / "collection-root" / USER / "big")
        wsgidav, wsgidav_url = start_wsgidav(base, cert, key)
        processes.append(wsgidav)
        print(f"calendar of {args.events} events; {args.documents} documents of 1 MiB")
        report(calendar_load(calendar_url, args.propfinds, args.reports),
               calendar_load(radicale_url, args.propfinds, args.reports), "Radicale alone")
        report(document_load(files_url, args.documents),
               document_load(wsgidav_url, args.documents), "WsgiDAV/cheroot")
    finally:
        for process in processes:
            process.terminate()
            process.wait(30)
        if server is not None:
            server.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
