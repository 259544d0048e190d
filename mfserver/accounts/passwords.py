"""Password hashing: argon2id for every new hash, and the legacy hashes people migrate with.

Implementation notes:
- New hashes are `$argon2id$` with passlib's (libpass) default cost; the type is set
  explicitly, so a change of passlib's default type cannot silently weaken new hashes.
- A stored hash is either a bare modular-crypt string (`$argon2id$`, `$argon2i$`, `$2b$`/`$2y$`,
  `$6$`, `$5$`, `$1$`) or Dovecot's `{SCHEME}…` form as `doveadm pw` prints it. The schemes
  understood are listed in `DOVECOT_SCHEMES`; anything else verifies as False, never raises.
- A match against anything but a current argon2id hash returns a new hash, which the caller
  stores: legacy hashes disappear one successful login at a time. Cleartext schemes ({PLAIN},
  {CLEAR}) are accepted only on those terms.
- bcrypt uses only the first 72 bytes of a password (OpenBSD, libxcrypt, and so Dovecot's
  BLF-CRYPT, all truncated there) and bcrypt 5 refuses longer input. We compare the first 72
  bytes, as the server the hash came from did; the argon2id rehash then covers the whole
  password. A password with a NUL byte never matches a bcrypt hash.
- Secrets longer than `MAX_SECRET_BYTES` never verify: the cost of sha512-crypt grows with the
  length of the password, so an unbounded one would be a cheap denial of service.
- Neither passwords nor hashes are ever logged; only the name of an unsupported scheme is.
- Every function here is CPU-bound and slow on purpose: call it off the reactor thread.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets

from passlib.context import CryptContext
from passlib.hash import argon2
from twisted.logger import Logger

from mfserver.accounts.errors import InvalidValue

log = Logger()

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024  # characters, for new passwords
MAX_SECRET_BYTES = 4096  # anything longer is refused before hashing
BCRYPT_MAX_BYTES = 72
PBKDF2_MAX_ROUNDS = 10_000_000

_CRYPT_HANDLERS = ("bcrypt", "sha512_crypt", "sha256_crypt", "md5_crypt", "des_crypt")
# Bare strings in the accounts table: des_crypt is left out, as any 13-character string
# would pass for one; it is accepted only behind an explicit {CRYPT} or {DES-CRYPT}.
_BARE_HANDLERS = frozenset({"argon2", "bcrypt", "sha512_crypt", "sha256_crypt", "md5_crypt"})

# Dovecot scheme → the passlib handlers its body may be (crypt-style schemes).
_DOVECOT_CRYPT = {
    "SHA512-CRYPT": frozenset({"sha512_crypt"}),
    "SHA256-CRYPT": frozenset({"sha256_crypt"}),
    "BLF-CRYPT": frozenset({"bcrypt"}),
    "MD5-CRYPT": frozenset({"md5_crypt"}),
    "MD5": frozenset({"md5_crypt"}),  # Dovecot's alias of MD5-CRYPT
    "DES-CRYPT": frozenset({"des_crypt"}),
    "ARGON2ID": frozenset({"argon2"}),
    "ARGON2I": frozenset({"argon2"}),
    "CRYPT": frozenset({"argon2", *_CRYPT_HANDLERS}),
}
# Dovecot scheme → (hashlib digest, salted, default encoding of the stored value).
_DOVECOT_DIGEST = {
    "SHA": ("sha1", False, "base64"),
    "SHA1": ("sha1", False, "base64"),
    "SSHA": ("sha1", True, "base64"),
    "SHA256": ("sha256", False, "base64"),
    "SSHA256": ("sha256", True, "base64"),
    "SHA512": ("sha512", False, "base64"),
    "SSHA512": ("sha512", True, "base64"),
    "PLAIN-MD5": ("md5", False, "hex"),
    "LDAP-MD5": ("md5", False, "base64"),
    "SMD5": ("md5", True, "base64"),
}
_DOVECOT_CLEARTEXT = frozenset({"PLAIN", "CLEAR", "CLEARTEXT"})
DOVECOT_SCHEMES = frozenset({*_DOVECOT_CRYPT, *_DOVECOT_DIGEST, *_DOVECOT_CLEARTEXT, "PBKDF2"})

_PREFIX = re.compile(r"\{([A-Za-z0-9-]+)(?:\.([A-Za-z0-9]+))?\}(.*)\Z", re.DOTALL)
_ENCODINGS = {"HEX": "hex", "B64": "base64", "BASE64": "base64"}

_PRODUCTION_ARGON2 = argon2.using(type="ID")
# The smallest argon2id cost argon2 accepts: for test suites only (see set_test_cost).
_TEST_ARGON2 = argon2.using(type="ID", memory_cost=8, time_cost=1, parallelism=1)


def _make_context(argon2_handler: type) -> CryptContext:
    return CryptContext(schemes=[argon2_handler, *_CRYPT_HANDLERS], default="argon2",
                        deprecated="auto")


_context = _make_context(_PRODUCTION_ARGON2)
_dummy_hash: str | None = None


def set_test_cost() -> None:
    """Use the cheapest argon2id cost from now on (tests only: never in a server)."""
    global _context, _dummy_hash
    _context = _make_context(_TEST_ARGON2)
    _dummy_hash = None


def set_production_cost() -> None:
    """Back to passlib's default argon2id cost (the state at import)."""
    global _context, _dummy_hash
    _context = _make_context(_PRODUCTION_ARGON2)
    _dummy_hash = None


def check_password_policy(password: str) -> None:
    """Raise InvalidValue unless `password` is acceptable as a new account password."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidValue(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidValue(f"a password has at most {MAX_PASSWORD_LENGTH} characters")
    if "\x00" in password:
        raise InvalidValue("a password cannot contain a NUL character")


def hash_password(password: str) -> str:
    """An argon2id hash of `password` (`$argon2id$v=19$…`)."""
    return _context.hash(password)


def verify_password(password: str, stored: str) -> tuple[bool, str | None]:
    """Whether `password` matches `stored`, and a new hash to store in its place if it should be.

    The second item is an argon2id hash of `password` when a legacy or outdated hash matched,
    None otherwise (no match, or already current). Never raises on a malformed or unknown hash.
    """
    if len(password.encode("utf-8", "surrogatepass")) > MAX_SECRET_BYTES:
        return False, None
    match = _PREFIX.match(stored)
    try:
        if match is None:
            matched = _verify_crypt(password, stored, _BARE_HANDLERS)
            if matched and not _context.needs_update(stored):
                return True, None
        else:
            matched = _verify_dovecot(password, match.group(1).upper(),
                                      (match.group(2) or "").upper(), match.group(3))
    except Exception as error:  # a malformed stored hash must read as "no match"
        log.warn("A stored password hash could not be checked ({error_type})",
                 error_type=type(error).__name__)
        return False, None
    if not matched:
        return False, None
    return True, hash_password(password)


def spend_time(password: str) -> None:
    """Verify `password` against a fixed hash, so that a failure for an unknown login costs
    about as much as one for a known login."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _context.hash(secrets.token_urlsafe(16))
    try:
        _context.verify(password[:MAX_SECRET_BYTES], _dummy_hash)
    except ValueError:
        pass


def _verify_crypt(password: str, body: str, allowed: frozenset[str]) -> bool:
    handler = _context.identify(body, required=False)
    if handler is None or handler not in allowed:
        return False
    secret: str | bytes = password
    if handler == "bcrypt":
        secret = password.encode("utf-8")[:BCRYPT_MAX_BYTES]
    return bool(_context.handler(handler).verify(secret, body))


def _verify_dovecot(password: str, scheme: str, encoding: str, body: str) -> bool:
    if scheme in _DOVECOT_CRYPT:
        return _verify_crypt(password, body, _DOVECOT_CRYPT[scheme])
    if encoding and encoding not in _ENCODINGS:
        return _unsupported(f"{scheme}.{encoding}")
    if scheme in _DOVECOT_CLEARTEXT:
        expected = _decode(body, _ENCODINGS[encoding]) if encoding else body.encode("utf-8")
        return hmac.compare_digest(password.encode("utf-8"), expected)
    if scheme in _DOVECOT_DIGEST:
        algorithm, salted, default_encoding = _DOVECOT_DIGEST[scheme]
        raw = _decode(body, _ENCODINGS.get(encoding, default_encoding))
        size = hashlib.new(algorithm).digest_size
        if len(raw) < size or (not salted and len(raw) != size):
            return False
        digest = hashlib.new(algorithm, password.encode("utf-8") + raw[size:]).digest()
        return hmac.compare_digest(digest, raw[:size])
    if scheme == "PBKDF2":
        return _verify_dovecot_pbkdf2(password, body)
    return _unsupported(scheme)


def _verify_dovecot_pbkdf2(password: str, body: str) -> bool:
    """Dovecot's PBKDF2: `$1$<salt>$<rounds>$<hex of PBKDF2-HMAC-SHA1>`, the salt used as is."""
    parts = body.split("$")
    if len(parts) != 5 or parts[0] or parts[1] != "1" or not parts[3].isdigit():
        return False
    rounds = int(parts[3])
    expected = bytes.fromhex(parts[4])
    if not 1 <= rounds <= PBKDF2_MAX_ROUNDS or not expected:
        return False
    derived = hashlib.pbkdf2_hmac("sha1", password.encode("utf-8"), parts[2].encode("utf-8"),
                                  rounds, dklen=len(expected))
    return hmac.compare_digest(derived, expected)


def _decode(value: str, encoding: str) -> bytes:
    if encoding == "hex":
        return bytes.fromhex(value)
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as error:
        raise ValueError("bad base64") from error


def _unsupported(scheme: str) -> bool:
    log.warn("A stored password hash uses the unsupported scheme {{{scheme}}}", scheme=scheme)
    return False
