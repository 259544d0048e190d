"""The accounts fixtures (a directory on the `database` fixture, a fake clock, cheap argon2),
plus a synchronous run_blocking and a way to read a fired Deferred without a reactor."""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet import defer
from twisted.python.failure import Failure

from tests.accounts.conftest import (  # noqa: F401 (fixtures)
    alice,
    authenticator,
    cheap_argon2,
    clock,
    directory,
    second_factor,
)


def run_blocking(function: Any, *args: Any, **kwargs: Any) -> defer.Deferred[Any]:
    """What the server's thread-pool runner does, but in the calling thread."""
    return defer.maybeDeferred(function, *args, **kwargs)


def result_of(deferred: defer.Deferred[Any]) -> Any:
    """The result of an already fired Deferred; its failure is raised."""
    results: list[Any] = []
    deferred.addBoth(results.append)
    assert results, "the Deferred has not fired"
    if isinstance(results[0], Failure):
        results[0].raiseException()
    return results[0]


@pytest.fixture
def sync_runner():
    return run_blocking
