"""Group commit: deliveries from many threads share one transaction and one sync.

Implementation notes:
- Each write transaction costs a sync of the database journal and of the maildir directory
  (a few milliseconds on a real disk) and holds the database's write lock meanwhile, so
  deliveries one transaction each are bounded by the disk's sync rate, however many threads
  deliver. With group commit the thread that finds no batch being committed becomes the
  committer: it takes every item waiting (its own among them) and commits them as one batch;
  the others wait and are woken when their batch is done. A committer commits only the batch
  it took, so nobody's delivery waits behind a stream of later ones.
- `commit(batch)` settles every item of the batch (result or error). If it raises, the batch
  is taken as failed: every item without an error of its own gets that exception.
- With one deliverer at a time the batch has one item: nothing changes but a lock round trip.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar


@dataclass
class Item:
    """One unit of work; `commit` sets `result` or `error`."""

    result: Any = None
    error: BaseException | None = None
    settled: bool = field(default=False, repr=False)


T = TypeVar("T", bound=Item)


class GroupCommit(Generic[T]):
    def __init__(self, commit: Callable[[list[T]], None]) -> None:
        self._commit = commit
        self._turn = threading.Condition()
        self._waiting: list[T] = []
        self._committing = False

    def run(self, item: T) -> Any:
        """Commit `item` with whatever else is waiting; its result, or raise its error."""
        with self._turn:
            self._waiting.append(item)
            while not item.settled:
                if self._committing:
                    self._turn.wait()
                    continue
                self._committing = True
                batch, self._waiting = self._waiting, []
                self._turn.release()
                try:
                    self._commit_batch(batch)
                finally:
                    self._turn.acquire()
                    self._committing = False
                    self._turn.notify_all()
        if item.error is not None:
            raise item.error
        return item.result

    def _commit_batch(self, batch: list[T]) -> None:
        try:
            self._commit(batch)
        except BaseException as error:  # noqa: BLE001 - the batch failed: every item did
            for item in batch:
                if item.error is None:
                    item.result, item.error = None, error
        for item in batch:
            if item.result is None and item.error is None:
                item.error = RuntimeError("the batch commit settled nothing for this item")
            item.settled = True
