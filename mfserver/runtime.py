"""Opening a data directory: the first-start work and the objects every part shares.

Implementation notes:
- `open_runtime()` is what both the server and the `mfserver` command call. It creates the data
  directory (mode 0700), runs the database migrations, creates the server key, and gives back
  one `Runtime` holding the database, the account directory, the credential check and the store.
- It takes no exclusive lock: the server and the command can both have the same data directory
  open (SQLite in WAL mode; migrations take their own short lock).
- The server key (`DATA/keys/server.key`, 0600) encrypts TOTP seeds at rest. Losing it means
  every account must enrol TOTP again; it is part of a backup.
- Everything here blocks; it runs before the reactor starts or in the `mfserver` command.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet

from mfserver import dkimkeys
from mfserver.accounts import AccountInfo, Authenticator, Directory, SecondFactor
from mfserver.config import Settings
from mfserver.dav import mount as dav
from mfserver.db import Database, migrate
from mfserver.store import ChangeBus, Store
from mfserver.tls import write_private


@dataclass
class Runtime:
    settings: Settings
    database: Database
    directory: Directory
    second_factor: SecondFactor
    authenticator: Authenticator
    store: Store
    bus: ChangeBus
    notes: list[str] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    def ensure_domain_keys(self, domain: str) -> list[dkimkeys.DkimKey]:
        """The domain's DKIM keys, created (and their selectors recorded) when missing."""
        info = self.directory.get_domain(domain)
        keys = dkimkeys.load_keys(self.data_dir, info.name, info.dkim_rsa_selector,
                                  info.dkim_ed25519_selector)
        if len(keys) == 2:
            return keys
        keys = dkimkeys.create_keys(self.data_dir, info.name)
        self.directory.set_dkim_selectors(info.name, keys[0].selector, keys[1].selector)
        self.notes.append(f"created DKIM keys for {info.name} "
                          f"(selectors {keys[0].selector}, {keys[1].selector})")
        return keys

    def provision(self, account: AccountInfo) -> None:
        """Make everything a new (or older) account needs: its mail folders, its default
        calendar and address book, its documents folder. Idempotent."""
        self.store.provision(account.id)
        dav.provision_account(self.data_dir, account.username)

    def close(self) -> None:
        self.database.dispose()


def server_key(data_dir: Path) -> bytes:
    """The Fernet key that encrypts TOTP seeds, created on first use."""
    path = data_dir / "keys" / "server.key"
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        write_private(path, Fernet.generate_key() + b"\n")
        return path.read_bytes().strip()


def prepare_data_dir(data_dir: Path) -> bool:
    """Create the data directory tree; True when it did not exist before."""
    created = not data_dir.exists()
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    for name in ("mail", "keys", "tls", "dkim", "dav", "files"):
        (data_dir / name).mkdir(exist_ok=True, mode=0o700)
    return created


def open_runtime(settings: Settings, *, bus: ChangeBus | None = None) -> Runtime:
    """Prepare the data directory and database, and build the shared objects."""
    data_dir = settings.data_dir
    notes = []
    if prepare_data_dir(data_dir):
        notes.append(f"created data directory {data_dir}")
    database = Database(settings.database_url)
    before = migrate.current_revision(database)
    migrate.upgrade(database)
    after = migrate.current_revision(database)
    if before != after:
        notes.append(f"database schema {before or 'empty'} -> {after}")
    directory = Directory(database, default_quota=settings.store.default_quota)
    second_factor = SecondFactor(database, server_key(data_dir))
    bus = bus or ChangeBus()
    store = Store(database, data_dir / "mail", bus=bus)
    return Runtime(settings, database, directory, second_factor,
                   Authenticator(directory, second_factor), store, bus, notes)
