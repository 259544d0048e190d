"""What the store raises. Protocols map these to their own replies (NO [OVERQUOTA], 452 4.2.2, ...)."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of the store's errors; the message is fit to show to a user."""


class InvalidFolderName(StoreError):
    """A folder name that can never exist: empty component, '.', '..', NUL, too long, ..."""


class FolderNotFound(StoreError):
    """No folder of that name (or id) in this account."""


class FolderExists(StoreError):
    """CREATE or RENAME onto a name that already exists."""


class FolderNotEmpty(StoreError):
    """DELETE of a folder that still has subfolders (see `Store.delete_folder`)."""


class FolderProtected(StoreError):
    """An operation INBOX does not allow (DELETE INBOX)."""


class AccountNotFound(StoreError):
    """No account with that id."""


class MessageNotFound(StoreError):
    """No message with that UID in the folder, or its file is gone."""


class QuotaExceeded(StoreError):
    """The account's quota would be exceeded; nothing was stored."""

    def __init__(self, quota: int, used: int, size: int) -> None:
        super().__init__(f"mailbox full: quota {quota}, used {used}, message needs {size} bytes")
        self.quota = quota
        self.used = used
        self.size = size
