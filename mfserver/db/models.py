"""SQLAlchemy models of accounts and the message index.

Implementation notes:
- Usernames are login names only; e-mail addresses live in `addresses` and point at an account.
  Both are stored lowercased (domains in their IDNA ASCII form).
- Times are integer Unix seconds (UTC). A message's internal date keeps its zone offset apart,
  because IMAP shows INTERNALDATE with the offset it was received with.
- `folders.uidnext` and `folders.highestmodseq` are only ever changed by an UPDATE inside the
  write transaction that inserts or changes messages, so concurrent writers serialise on the
  folder row and UIDs become visible in increasing order.
- Secrets are never stored in the clear: passwords and recovery codes as hashes, app passwords
  as SHA-256 of a 120-bit random secret, TOTP seeds encrypted with the server key.
- The outbound queue (`outbound_*`) keeps one row per queued message and one per recipient;
  the message bytes live in a spool file named by the message id. A message is claimed by a
  lease (`claimed_until`, `claim_token`) so several processes can share the queue.
- Per-account filter data (`filter_*`, `bayes_*`) belongs to the milters: allow/block lists,
  settings, and the Bayesian token counts (tokens stored as hash prefixes, never words).
- Every change to this file needs an alembic revision under `migrations/versions/`.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Domain(Base):
    __tablename__ = "domains"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(253), unique=True)
    catch_all_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True)
    dkim_rsa_selector: Mapped[str | None] = mapped_column(String(63), nullable=True)
    dkim_ed25519_selector: Mapped[str | None] = mapped_column(String(63), nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(Text)
    recovery_address: Mapped[str | None] = mapped_column(String(320), nullable=True)
    quota_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    used_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    maildir: Mapped[str] = mapped_column(String(255), unique=True)
    totp_secret: Mapped[str | None] = mapped_column(Text, nullable=True)
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)


class Address(Base):
    __tablename__ = "addresses"
    __table_args__ = (UniqueConstraint("local_part", "domain_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    local_part: Mapped[str] = mapped_column(String(64))
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # primary | alias | disposable
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    label: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)


class AppPassword(Base):
    __tablename__ = "app_passwords"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    last_used_day: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class RecoveryCode(Base):
    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class Folder(Base):
    __tablename__ = "folders"
    __table_args__ = (UniqueConstraint("account_id", "name"),
                      UniqueConstraint("account_id", "directory"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(1000))
    directory: Mapped[str] = mapped_column(String(1000))
    special_use: Mapped[str | None] = mapped_column(String(32), nullable=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uidnext: Mapped[int] = mapped_column(BigInteger, default=1)
    highestmodseq: Mapped[int] = mapped_column(BigInteger, default=1)
    created_at: Mapped[int] = mapped_column(BigInteger)


class Subscription(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(1000))


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (UniqueConstraint("folder_id", "uid"),
                      UniqueConstraint("folder_id", "key"),
                      Index("ix_messages_folder_modseq", "folder_id", "modseq"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    folder_id: Mapped[int] = mapped_column(ForeignKey("folders.id", ondelete="CASCADE"))
    uid: Mapped[int] = mapped_column(BigInteger)
    key: Mapped[str] = mapped_column(String(255))       # maildir unique name, before ':'
    filename: Mapped[str] = mapped_column(String(300))  # 'new/NAME' or 'cur/NAME:2,FLAGS'
    flags: Mapped[int] = mapped_column(Integer, default=0)  # see store.flags
    keywords: Mapped[str] = mapped_column(Text, default="")  # space-separated
    internal_date: Mapped[int] = mapped_column(BigInteger)
    internal_tz: Mapped[int] = mapped_column(Integer, default=0)  # minutes east of UTC
    sent_date: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    size: Mapped[int] = mapped_column(BigInteger)  # RFC822.SIZE, CRLF line endings
    bare_lf: Mapped[bool] = mapped_column(Boolean, default=False)  # file has LF endings
    modseq: Mapped[int] = mapped_column(BigInteger)
    envelope: Mapped[str] = mapped_column(Text)       # JSON of the IMAP ENVELOPE
    bodystructure: Mapped[str] = mapped_column(Text)  # JSON of BODYSTRUCTURE


class MessageHeader(Base):
    """The header block of each message, kept apart so scans of `messages` stay small."""

    __tablename__ = "message_headers"

    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    header: Mapped[bytes] = mapped_column(LargeBinary)


class Expunged(Base):
    """UIDs removed from a folder, with the MODSEQ of their removal (for QRESYNC VANISHED)."""

    __tablename__ = "expunged"

    folder_id: Mapped[int] = mapped_column(
        ForeignKey("folders.id", ondelete="CASCADE"), primary_key=True)
    uid: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    modseq: Mapped[int] = mapped_column(BigInteger)


class OutboundMessage(Base):
    """A message waiting in the outbound queue (its bytes are in DATA/queue/ID)."""

    __tablename__ = "outbound_messages"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    sender: Mapped[str] = mapped_column(String(512))  # "" is the null sender
    envid: Mapped[str | None] = mapped_column(String(100), nullable=True)  # DSN ENVID
    ret: Mapped[str | None] = mapped_column(String(4), nullable=True)  # DSN RET: FULL | HDRS
    smtputf8: Mapped[bool] = mapped_column(Boolean, default=False)
    eightbit: Mapped[bool] = mapped_column(Boolean, default=False)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True)
    claimed_until: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    claim_token: Mapped[str | None] = mapped_column(String(32), nullable=True)


class OutboundRecipient(Base):
    """One recipient of a queued message and where its delivery stands."""

    __tablename__ = "outbound_recipients"
    __table_args__ = (Index("ix_outbound_recipients_due", "state", "next_attempt"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(
        ForeignKey("outbound_messages.id", ondelete="CASCADE"), index=True)
    address: Mapped[str] = mapped_column(String(512))
    notify: Mapped[str] = mapped_column(String(32))  # "NEVER" or e.g. "FAILURE,DELAY"
    orcpt: Mapped[str | None] = mapped_column(String(600), nullable=True)
    state: Mapped[str] = mapped_column(String(16))  # queued | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt: Mapped[int] = mapped_column(BigInteger)
    last_reply: Mapped[str | None] = mapped_column(Text, nullable=True)
    remote_mta: Mapped[str | None] = mapped_column(String(255), nullable=True)
    delay_notified: Mapped[bool] = mapped_column(Boolean, default=False)


class MtaStsPolicy(Base):
    """A cached MTA-STS policy (RFC 8461 §3.3: kept across restarts until max_age ends)."""

    __tablename__ = "mta_sts_policies"

    domain: Mapped[str] = mapped_column(String(253), primary_key=True)
    policy_id: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    fetched_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)


class FilterEntry(Base):
    """An account's allow or block list entry: an address or a domain (lowercased)."""

    __tablename__ = "filter_entries"
    __table_args__ = (UniqueConstraint("account_id", "pattern"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))  # allow | block
    pattern: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[int] = mapped_column(BigInteger)


class FilterSetting(Base):
    """One per-account milter setting (e.g. trackers = off, blocked = reject)."""

    __tablename__ = "filter_settings"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


class BayesToken(Base):
    """How often a token was seen in an account's junk and non-junk mail."""

    __tablename__ = "bayes_tokens"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    token: Mapped[str] = mapped_column(String(16), primary_key=True)  # hash prefix, hex
    spam: Mapped[int] = mapped_column(Integer, default=0)
    ham: Mapped[int] = mapped_column(Integer, default=0)


class BayesCount(Base):
    """How many junk and non-junk messages an account's classifier has learnt."""

    __tablename__ = "bayes_counts"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    spam: Mapped[int] = mapped_column(Integer, default=0)
    ham: Mapped[int] = mapped_column(Integer, default=0)


class Share(Base):
    """A public link to one calendar or one document or folder of an account.

    The link's token is never stored: `token_hash` is the SHA-256 of it, so a copy of the
    database opens no share. `allowed` is a space-separated list of usernames (empty: anyone
    with the link)."""

    __tablename__ = "shares"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # "calendar" | "files"
    path: Mapped[str] = mapped_column(String(1000))
    mode: Mapped[str] = mapped_column(String(16))  # "read" | "dropbox"
    password_hash: Mapped[str | None] = mapped_column(Text, nullable=True)
    allowed: Mapped[str] = mapped_column(Text, default="")
    label: Mapped[str] = mapped_column(String(200), default="")
    expires_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[int] = mapped_column(BigInteger)
