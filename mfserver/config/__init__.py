"""Loading and validating the configuration into typed settings.

Implementation notes:
- Nobody else parses configuration files. `load_settings()` returns a `Settings` whose sections
  are read as attributes: `settings.listen.imap`, `settings.server.data_dir`.
- Every error is a `ConfigError` whose message names the file and the key; callers print it as
  one line and exit non-zero before any listener exists.
- Relative paths (data_dir, certificate, private_key, the outbound files) are resolved against the working directory
  when the settings are loaded, so later code only sees absolute paths.
"""

from __future__ import annotations

import os
import textwrap
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from mfserver.config.schema import SCHEMA, Option

CONFIG_ENV = "MFSERVER_CONFIG"
DATA_ENV = "MFSERVER_DATA"


class ConfigError(Exception):
    """A configuration problem, worded for the administrator."""


class Section:
    """The validated options of one section, read as attributes."""

    def __init__(self, name: str, values: Mapping[str, Any]) -> None:
        self._name = name
        self._values = MappingProxyType(dict(values))

    def __getattr__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(f"no option [{self._name}] {key}") from None

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)


class Settings:
    """All sections of a validated configuration, and the file they came from (or None)."""

    def __init__(self, sections: Mapping[str, Section], source: Path | None) -> None:
        self._sections = dict(sections)
        self.source = source

    def __getattr__(self, name: str) -> Section:
        try:
            return self._sections[name]
        except KeyError:
            raise AttributeError(f"no section [{name}]") from None

    @property
    def data_dir(self) -> Path:
        return Path(self.server.data_dir)

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.data_dir / 'mfserver.sqlite3'}"

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {name: section.as_dict() for name, section in self._sections.items()}


def _validate(where: str, raw: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    unknown = sorted(set(raw) - set(SCHEMA))
    if unknown:
        raise ConfigError(f"{where}: unknown section [{unknown[0]}] "
                          f"(known: {', '.join(SCHEMA)})")
    result: dict[str, dict[str, Any]] = {}
    for section, (_, options) in SCHEMA.items():
        given = raw.get(section, {})
        if not isinstance(given, dict):
            raise ConfigError(f"{where}: [{section}] must be a table")
        by_name: dict[str, Option] = {option.name: option for option in options}
        unknown = sorted(set(given) - set(by_name))
        if unknown:
            raise ConfigError(f"{where}: [{section}] {unknown[0]}: unknown key "
                              f"(known: {', '.join(by_name)})")
        values = {}
        for name, option in by_name.items():
            value = given.get(name, option.default)
            try:
                values[name] = option.validate(value)
            except ValueError as exc:
                raise ConfigError(f"{where}: [{section}] {name}: {exc}") from None
        result[section] = values
    return result


def _absolute(path: str) -> str:
    return str(Path(path).expanduser().absolute()) if path else path


def load_settings(path: str | os.PathLike[str] | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Read the configuration named by `path`, else by $MFSERVER_CONFIG, else the defaults."""
    environ = os.environ if environ is None else environ
    if path is None:
        path = environ.get(CONFIG_ENV) or None
    raw: dict[str, Any] = {}
    source: Path | None = None
    where = "built-in defaults"
    if path is not None:
        source = Path(path).expanduser().absolute()
        where = str(source)
        try:
            with open(source, "rb") as handle:
                raw = tomllib.load(handle)
        except FileNotFoundError:
            raise ConfigError(f"{where}: configuration file not found") from None
        except IsADirectoryError:
            raise ConfigError(f"{where}: is a directory, not a configuration file") from None
        except PermissionError:
            raise ConfigError(f"{where}: permission denied") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{where}: not valid TOML: {exc}") from None
    values = _validate(where, raw)
    if environ.get(DATA_ENV):
        values["server"]["data_dir"] = environ[DATA_ENV]
    values["server"]["data_dir"] = _absolute(values["server"]["data_dir"])
    for key in ("certificate", "private_key"):
        values["tls"][key] = _absolute(values["tls"][key])
    for key in ("ca_file", "smarthost_password_file"):
        values["outbound"][key] = _absolute(values["outbound"][key])
    if bool(values["tls"]["certificate"]) != bool(values["tls"]["private_key"]):
        raise ConfigError(f"{where}: [tls] certificate and private_key must be set together")
    return Settings({name: Section(name, v) for name, v in values.items()}, source)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def render_config(overrides: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """A complete, commented configuration file: the defaults, with `overrides` applied."""
    overrides = overrides or {}
    lines = ["# mfserver configuration. Every key is listed with its default and meaning;",
             "# `mfserver check` validates this file.", ""]
    for section, (about, options) in SCHEMA.items():
        lines.append(f"# {about}")
        lines.append(f"[{section}]")
        for option in options:
            lines.extend(textwrap.wrap(option.help, 98, initial_indent="# ",
                                       subsequent_indent="# "))
            value = overrides.get(section, {}).get(option.name, option.default)
            lines.append(f"{option.name} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)
