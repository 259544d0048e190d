"""Running the real thing in tests: the `mfserver` command and `twistd -ny mfserver.tac`.

Both run as subprocesses on the working tree (PYTHONPATH points at the repository), with a
configuration that binds free high ports on 127.0.0.1.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from mfserver.config import render_config
from tests.paths import REPO

TWISTD = [sys.executable, "-c",
          "import sys; from twisted.scripts.twistd import run; sys.argv[0] = 'twistd'; run()",
          "--pidfile=", "-ny", str(REPO / "mfserver.tac")]
LISTENERS = ("smtp", "submission", "smtps", "imap", "imaps", "pop3", "pop3s", "https")


def environment(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("MFSERVER_") or key == "MFSERVER_TEST_DATABASE_URL"}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cli(*args: str, config: Path | None = None, stdin: str | bytes | None = None,
        cwd: Path | None = None, check: bool = False, **env: str) -> subprocess.CompletedProcess:
    """Run `mfserver ARGS` and return the completed process (text output)."""
    command = [sys.executable, "-m", "mfserver"]
    if config is not None:
        command += ["--config", str(config)]
    data = stdin.encode() if isinstance(stdin, str) else stdin
    result = subprocess.run(command + list(args), input=data, capture_output=True,
                            cwd=cwd, env=environment(**env), timeout=120)
    result.stdout = result.stdout.decode()  # type: ignore[assignment]
    result.stderr = result.stderr.decode()  # type: ignore[assignment]
    if check and result.returncode != 0:
        raise AssertionError(f"mfserver {' '.join(args)} failed: {result.stderr}")
    return result


def write_config(data_dir: Path, ports: dict[str, int] | None = None,
                 **sections: dict) -> Path:
    """A configuration under `data_dir` with free ports (or `ports`) for every listener."""
    data_dir.mkdir(parents=True, exist_ok=True)
    listen = {name: free_port() for name in LISTENERS}
    listen.update(ports or {})
    overrides = {"server": {"hostname": "mail.example.test", "data_dir": str(data_dir)},
                 "listen": listen, "store": {"rescan_interval": 0}}
    database = os.environ.get("MFSERVER_TEST_SERVER_DATABASE_URL")
    if database:
        overrides["database"] = {"url": database}
    for name, values in sections.items():
        overrides.setdefault(name, {}).update(values)
    path = data_dir / "mfserver.toml"
    path.write_text(render_config(overrides))
    return path


@dataclass
class Server:
    """`twistd -ny mfserver.tac` running on a configuration file."""

    config: Path
    process: subprocess.Popen | None = None
    log: Path = field(default=Path())

    def start(self, wait_for: int | None = None, timeout: float = 60) -> Server:
        self.log = self.config.parent / "twistd.log"
        handle = open(self.log, "ab")
        self.process = subprocess.Popen(
            TWISTD,
            stdout=handle, stderr=subprocess.STDOUT, cwd=self.config.parent,
            env=environment(MFSERVER_CONFIG=str(self.config)))
        handle.close()
        if wait_for:
            self.wait_for_port(wait_for, timeout)
        return self

    def wait_for_port(self, port: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process and self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}:\n"
                                     f"{self.log_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"server did not listen on {port}:\n{self.log_text()}")

    def stop(self, timeout: float = 30) -> bool:
        """Stop with SIGTERM; True when it shut down cleanly (twistd then exits by the signal)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        clean = self.process.returncode in (0, -signal.SIGTERM)
        return clean and (self.log == Path() or not self.log.exists()
                          or "Server Shut Down." in self.log_text())

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.process is not None:
            self.stop()
