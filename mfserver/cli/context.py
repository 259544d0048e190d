"""What every subcommand needs: the settings and the runtime (opened lazily), and password input."""

from __future__ import annotations

import getpass
import sys
from functools import cached_property

from mfserver.config import Settings, load_settings
from mfserver.runtime import Runtime, open_runtime


class CommandError(Exception):
    """An error worded for the admin, printed as one line."""


class Context:
    def __init__(self, config_path: str | None) -> None:
        self._config_path = config_path
        self._runtime: Runtime | None = None

    @cached_property
    def settings(self) -> Settings:
        return load_settings(self._config_path)

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            self._runtime = open_runtime(self.settings)
        return self._runtime

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()


def read_password(from_stdin: bool, prompt: str = "Password: ") -> str:
    """A new password from standard input (one line) or from a prompt asked twice."""
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise CommandError("no password on standard input")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise CommandError("no terminal to ask for the password: use --password-stdin")
    first = getpass.getpass(prompt)
    if getpass.getpass("Again: ") != first:
        raise CommandError("the two passwords differ")
    return first


def confirm(question: str, assume_yes: bool) -> None:
    """Ask before something that cannot be undone; without a terminal, --yes is required."""
    if assume_yes:
        return
    if not sys.stdin.isatty():
        raise CommandError(f"{question} Refusing without --yes (no terminal to ask).")
    answer = input(f"{question} [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise CommandError("cancelled")
