"""Building the inbound and outbound chains from the configuration: the one loader.

Implementation notes:
- `[milter] inbound` / `outbound` list milters in order. An entry is a short name of a shipped
  plugin (`trackers` -> `plugins.trackers`), a dotted path to a module or to a callable in one
  (`mypackage.mymilter` or `mypackage.mymilter.make_milter`), or an external milter spoken to
  over the milter protocol: `inet:HOST:PORT` or `unix:/PATH`, as in Postfix's smtpd_milters.
- A module entry must have `make_milter(tools) -> milter`; a callable entry is called the same
  way. A path that does not import, or names nothing callable, raises `MilterConfigError`
  naming the entry, so the server stops at start-up before any port opens.
- A milter that declares `directions` without the chain's direction is refused the same way.
- The failure policy is the milter's declared `on_failure` unless `[milter] fail_open` names
  it; the timeout is its declared `timeout` or `[milter] timeout`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mfserver.config import ConfigError
from mfserver.milter.api import Direction, FailurePolicy
from mfserver.milter.chain import ChainLink, MilterChain

SHIPPED = ("trackers", "ipscrub", "spam", "malware")


class MilterConfigError(ConfigError):
    """A milter entry that cannot be loaded; the message names it."""


@dataclass
class MilterTools:
    """What a milter factory gets: the settings and the shared services."""

    settings: Any
    runtime: Any                      # mfserver.runtime.Runtime (database, directory, store)
    run_blocking: Callable[..., Any]  # the thread pool for blocking work
    resolver: Any                     # mfserver.resolver.Resolver, for DNS lookups
    direction: Direction
    clock: Any = None


@dataclass
class Chains:
    inbound: MilterChain
    outbound: MilterChain
    milters: dict[str, Any]           # name -> milter instance (shared between directions)

    def find(self, name: str) -> Any:
        return self.milters.get(name)

    def filed(self, account_id: int, source: str, target: str, target_id: int,
              uids: list[int]) -> None:
        """A user copied or moved messages between folders (IMAP): milters that learn from
        it (spam: Junk) are told; they do their work in the thread pool."""
        for milter in self.milters.values():
            learn = getattr(milter, "filed", None)
            if learn is not None:
                learn(account_id, source, target, target_id, uids)


def resolve(entry: str) -> Callable[[MilterTools], Any]:
    """The factory an entry names; MilterConfigError if it names none."""
    if entry.startswith(("inet:", "unix:")):
        from mfserver.milter.external import external_factory
        try:
            return external_factory(entry)
        except ValueError as exc:
            raise MilterConfigError(f"milter {entry!r}: {exc}") from None
    path = f"plugins.{entry}" if entry in SHIPPED else entry
    try:
        module = importlib.import_module(path)
    except ModuleNotFoundError as exc:
        if exc.name != path:
            raise MilterConfigError(f"milter {entry!r}: importing {path} failed: {exc}") \
                from None
        return _attribute(entry, path)
    except Exception as exc:
        raise MilterConfigError(f"milter {entry!r}: importing {path} failed: "
                                f"{type(exc).__name__}: {exc}") from None
    factory = getattr(module, "make_milter", None)
    if not callable(factory):
        raise MilterConfigError(f"milter {entry!r}: module {path} has no make_milter()")
    return factory


def _attribute(entry: str, path: str) -> Callable[[MilterTools], Any]:
    """`package.module.callable`: the callable, or MilterConfigError."""
    module_path, _, attribute = path.rpartition(".")
    if not module_path:
        raise MilterConfigError(f"milter {entry!r}: no module named {path}")
    try:
        module = importlib.import_module(module_path)
    except Exception as exc:
        raise MilterConfigError(f"milter {entry!r}: no module named {path} ({exc})") from None
    target = getattr(module, attribute, None)
    if not callable(target):
        raise MilterConfigError(f"milter {entry!r}: module {module_path} has no callable "
                                f"{attribute!r}")
    return target


def build_chain(entries: list[str], direction: Direction, make_tools: Callable[[Direction],
                MilterTools], timeout: float, fail_open: set[str],
                instances: dict[str, Any] | None = None) -> MilterChain:
    instances = {} if instances is None else instances
    links = []
    tools = make_tools(direction)
    for entry in entries:
        if entry not in instances:
            factory = resolve(entry)
            try:
                instances[entry] = factory(tools)
            except MilterConfigError:
                raise
            except Exception as exc:
                raise MilterConfigError(f"milter {entry!r}: could not be set up: "
                                        f"{type(exc).__name__}: {exc}") from exc
        milter = instances[entry]
        directions = getattr(milter, "directions", None)
        if directions is not None and direction not in directions:
            raise MilterConfigError(f"milter {entry!r} does not filter {direction.value} mail")
        policy = getattr(milter, "on_failure", FailurePolicy.TEMPFAIL)
        if entry in fail_open:
            policy = FailurePolicy.SKIP
        links.append(ChainLink(milter, entry, policy,
                               getattr(milter, "timeout", None) or timeout))
    return MilterChain(links, direction, clock=tools.clock)


def make_chains(settings: Any, runtime: Any, run_blocking: Callable[..., Any],
                resolver: Any, clock: Any = None) -> Chains:
    """Both chains from `[milter]`; raises MilterConfigError naming a bad entry."""
    section = settings.milter

    def make_tools(direction: Direction) -> MilterTools:
        return MilterTools(settings, runtime, run_blocking, resolver, direction, clock)

    fail_open = set(section.fail_open)
    instances: dict[str, Any] = {}
    inbound = build_chain(list(section.inbound), Direction.INBOUND, make_tools,
                          section.timeout, fail_open, instances)
    outbound = build_chain(list(section.outbound), Direction.OUTBOUND, make_tools,
                           section.timeout, fail_open, instances)
    return Chains(inbound, outbound, instances)
