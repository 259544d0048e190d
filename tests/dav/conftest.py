"""One real server for the DAV tests: `twistd -ny mfserver.tac` on a temporary data directory,
HTTPS with a trustme certificate, the plain-HTTP redirect port on, and these accounts:
alice and bob (passwords), carol (a 1 MiB quota), hal (TOTP on, one app password)."""

from __future__ import annotations

import base64
import http.client
import re
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.certs import server_certificate
from tests.harness import LISTENERS, Server, cli, free_port, write_config

HOST = "mail.example.test"
PASSWORDS = {"alice": "alice dav password", "bob": "bob dav password",
             "carol": "carol dav password", "hal": "hal dav password",
             "tina": "tina dav password"}
MAX_UPLOAD = 3 * 1024 * 1024


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass
class DavServer:
    base: Path
    config: Path
    https: int
    http: int
    context: ssl.SSLContext
    ca_file: Path
    server: Server
    app_password: str = ""

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.https}"

    def cli(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        result = cli(*args, config=self.config, stdin=stdin, check=check)
        return result.stdout if check else result.stdout + result.stderr

    def connection(self) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection("127.0.0.1", self.https, context=self.context,
                                           timeout=60)

    def request(self, method: str, path: str, body: bytes | str = b"",
                user: str | None = "alice", password: str | None = None,
                headers: dict[str, str] | None = None) -> Reply:
        """One request on a new connection; `user` None sends no credentials."""
        headers = dict(headers or {})
        if user is not None:
            headers["Authorization"] = basic(user, password)
        connection = self.connection()
        try:
            connection.request(method, path, body=body.encode() if isinstance(body, str)
                               else body, headers=headers)
            response = connection.getresponse()
            return Reply(response.status, response.headers, response.read())
        finally:
            connection.close()


@pytest.fixture(scope="package")
def dav(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DavServer]:
    base = tmp_path_factory.mktemp("dav")
    authority, tls = server_certificate(base, HOST)
    ports = {name: 0 for name in LISTENERS}  # only the web listeners: fewer ports to collide
    ports.update(https=free_port(), http=free_port())
    config = write_config(base / "data", ports=ports, server={"hostname": HOST},
                          tls=tls,
                          dav={"max_upload": MAX_UPLOAD, "login_cache": "60s"},
                          auth={"failures_per_source": 1000, "failures_per_account": 3})
    cli("domain", "add", "example.org", config=config, check=True)
    for user, password in PASSWORDS.items():
        extra = ["--quota", "1M"] if user == "carol" else []
        cli("user", "add", f"{user}@example.org", "--password-stdin", *extra, config=config,
            stdin=password, check=True)
    cli("2fa", "enable", "hal", config=config, check=True)
    out = cli("app-password", "add", "hal", "phone", config=config, check=True).stdout
    context = ssl.create_default_context()
    authority.configure_trust(context)
    context.check_hostname = False
    server = Server(config).start(wait_for=ports["https"])
    try:
        yield DavServer(base, config, ports["https"], ports["http"], context, base / "ca.pem",
                        server, app_password=out.strip().splitlines()[-1])
    finally:
        server.stop()


def basic(user: str, password: str | None = None) -> str:
    """An Authorization header value for `user` (with their password unless given)."""
    secret = PASSWORDS[user] if password is None else password
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


def multistatus_hrefs(body: bytes) -> list[str]:
    return re.findall(r"<(?:\w+:)?href>([^<]*)</(?:\w+:)?href>", body.decode())
