"""The message store: maildir folders per account, the message index, quota, change notifications.

Protocols use `Store` (see `mfserver.store.store` for its implementation notes) and subscribe to
changes on a `ChangeBus`.
"""

from mfserver.store.changes import (
    Change,
    ChangeBus,
    FlagsChanged,
    FolderCreated,
    FolderDeleted,
    FolderRenamed,
    MessagesAdded,
    MessagesExpunged,
    Subscription,
)
from mfserver.store.errors import (
    AccountNotFound,
    FolderExists,
    FolderNotEmpty,
    FolderNotFound,
    FolderProtected,
    InvalidFolderName,
    MessageNotFound,
    QuotaExceeded,
    StoreError,
)
from mfserver.store.flags import InvalidFlag
from mfserver.store.maildir import DELIMITER, INBOX
from mfserver.store.records import (
    Delivered,
    FlagMode,
    FlagUpdate,
    FolderInfo,
    FolderStatus,
    FolderView,
    MessageDetails,
    MessageInfo,
    RescanResult,
    StoreFlagsResult,
)
from mfserver.store.store import Store

__all__ = [
    "DELIMITER", "INBOX", "AccountNotFound", "Change", "ChangeBus", "Delivered", "FlagMode",
    "FlagUpdate", "FlagsChanged", "FolderCreated", "FolderDeleted", "FolderExists",
    "FolderInfo", "FolderNotEmpty", "FolderNotFound", "FolderProtected", "FolderRenamed",
    "FolderStatus", "FolderView", "InvalidFlag", "InvalidFolderName", "MessageDetails", "MessageInfo",
    "MessageNotFound", "MessagesAdded", "MessagesExpunged", "QuotaExceeded", "RescanResult",
    "Store", "StoreError", "StoreFlagsResult", "Subscription",
]
