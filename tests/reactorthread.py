"""Twisted's reactor running in a background thread, for tests that need real sockets in-process.

The reactor starts on first use and runs until the test process exits (a reactor cannot be
restarted). Tests call into it with `on_reactor(function, *args)`, which runs the function on
the reactor thread and waits for its result (a Deferred is waited on), raising its failure.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from twisted.internet import defer, reactor
from twisted.python.failure import Failure

_lock = threading.Lock()


def start() -> None:
    with _lock:
        if reactor.running:
            return
        started = threading.Event()
        reactor.callWhenRunning(started.set)
        threading.Thread(target=reactor.run, kwargs={"installSignalHandlers": False},
                         daemon=True, name="test-reactor").start()
        if not started.wait(10):
            raise RuntimeError("the reactor did not start")


def on_reactor(function: Any, *args: Any, timeout: float = 30, **kwargs: Any) -> Any:
    """Run `function(*args, **kwargs)` on the reactor thread; its (awaited) result."""
    start()
    results: queue.Queue[Any] = queue.Queue()

    def call() -> None:
        defer.maybeDeferred(function, *args, **kwargs).addBoth(results.put)

    reactor.callFromThread(call)
    try:
        result = results.get(timeout=timeout)
    except queue.Empty:
        raise TimeoutError(f"{getattr(function, '__name__', function)} did not finish "
                           f"within {timeout}s") from None
    if isinstance(result, Failure):
        result.raiseException()
    return result
