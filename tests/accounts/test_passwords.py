"""Password hashes: argon2id for new ones, and every legacy form people migrate with."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest
from passlib.hash import argon2, bcrypt, md5_crypt, sha256_crypt, sha512_crypt

from mfserver.accounts import InvalidValue, passwords
from mfserver.accounts.passwords import (
    check_password_policy,
    hash_password,
    spend_time,
    verify_password,
)

SECRET = "Tr0ub4dor&3"

# Printed by `doveadm pw -s SCHEME -p 'Tr0ub4dor&3'` (Dovecot 2.3.19, Debian 12).
DOVEADM = {
    "SHA512-CRYPT": "{SHA512-CRYPT}$6$CjkuGZLV12M24dry$T2vxtnrnrLj8RKVLXRQOk6MRKM6w2XM9/wVP5sj"
                    "X.DtdpbB952siCkDA/.0.kzBZt.OS1kxhmGF3sORQU0Q2Q.",
    "SHA256-CRYPT": "{SHA256-CRYPT}$5$vMWwgR1tfx9e.SGy$hgcoRt8yeGZ9qsxYwdED62yosLIZ3DkRM.QOU4IIhl6",
    "BLF-CRYPT": "{BLF-CRYPT}$2y$05$n5MMrU9a0R3iP1iyro.N9.JY27ye3qy3tAx/EO8qJJHrzBfUDzAUO",
    "ARGON2ID": "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$NA3nMXLSy4udsHDSS+Urog$7xZXtaCl1q7FKq"
                "PdSPe5yZMyRdtpaZClU2YClZRWZtU",
    "ARGON2I": "{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$OOZBCwJZnbUfgTQxNDV2Vw$A26Gc8vE/NtA5nnvdVG"
               "M8DChugy0PizST2c7MIT4yzo",
    "SSHA512": "{SSHA512}Di3MBbjbqFIUT/AwdH43KVUtkOxj7lmFbF9h2y9FqZp9Ycxid42VvGigVKBVXEwEH+Xx2+pX"
               "IRN5sYzpxZANuQi46JI=",
    "SSHA512.HEX": "{SSHA512.HEX}a950210ae4f2a4d866ef722a17d87df915e76a9eebc3a5e0d3a50e469124262"
                   "2f117006baf35430c13f318dedbb0c9368816ae4aadcafb1e80809b4c9231cdeb065a24c2",
    "SSHA256": "{SSHA256}Vyy+Hz0N8FgAXXInVl0We18NACybgYj+BlG3ewJGx+eIuIp3",
    "PBKDF2": "{PBKDF2}$1$0VQaszbRuTcdshWg$5000$2f53f815615fb59e908498bcd81d8d6790f36867",
    "CRYPT": "{CRYPT}$2y$05$aGEEjntvgQd9hqDjlJFgguQlSDl9PDQlDcXoM4WpBvhnpLdoBew5u",
    "MD5-CRYPT": "{MD5-CRYPT}$1$2aw.d2Zb$4.FhnpDt2iQwWMwhKYYtz/",
    "PLAIN": "{PLAIN}Tr0ub4dor&3",
    "CLEAR": "{CLEAR}Tr0ub4dor&3",
}
# `doveadm pw -s BLF-CRYPT` of "é" * 40 (80 bytes): Dovecot's bcrypt used the first 72 bytes.
DOVEADM_LONG_BCRYPT = "{BLF-CRYPT}$2y$05$KA3RwV8mm7OQhiqSuw1ILOD30D/mzA4BgGlOcjVSFlp9S.0RjMMkq"


def _is_current(stored: str, password: str) -> bool:
    return stored.startswith("$argon2id$") and verify_password(password, stored) == (True, None)


def _ssha512(password: str) -> str:
    salt = os.urandom(8)
    digest = hashlib.sha512(password.encode() + salt).digest()
    return "{SSHA512}" + base64.b64encode(digest + salt).decode()


def _dovecot_pbkdf2(password: str) -> str:
    salt, rounds = "0123456789abcdef", 2000
    digest = hashlib.pbkdf2_hmac("sha1", password.encode(), salt.encode(), rounds)
    return f"{{PBKDF2}}$1${salt}${rounds}${digest.hex()}"


def test_new_hashes_are_argon2id_at_passlib_default_cost():
    passwords.set_production_cost()
    stored = hash_password(SECRET)
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert verify_password(SECRET, stored) == (True, None)


def test_current_hash_verifies_without_rehash():
    stored = hash_password(SECRET)
    assert stored.startswith("$argon2id$")
    assert verify_password(SECRET, stored) == (True, None)
    assert verify_password(SECRET + "!", stored) == (False, None)


def test_hash_at_another_cost_is_rehashed():
    passwords.set_production_cost()
    stored = hash_password(SECRET)
    passwords.set_test_cost()
    matched, new = verify_password(SECRET, stored)
    assert matched and new is not None and _is_current(new, SECRET)


@pytest.mark.parametrize("scheme", sorted(DOVEADM))
def test_doveadm_hashes_verify_and_are_rehashed(scheme):
    matched, new = verify_password(SECRET, DOVEADM[scheme])
    assert matched
    assert new is not None and _is_current(new, SECRET)
    assert verify_password("Tr0ub4dor&4", DOVEADM[scheme]) == (False, None)


@pytest.mark.parametrize("make", [
    lambda p: sha512_crypt.using(rounds=5000).hash(p),
    lambda p: sha256_crypt.using(rounds=5000).hash(p),
    lambda p: bcrypt.using(rounds=4).hash(p),
    lambda p: bcrypt.using(rounds=4, ident="2y").hash(p),
    lambda p: md5_crypt.hash(p),
    lambda p: argon2.using(type="I", memory_cost=8, time_cost=1, parallelism=1).hash(p),
    lambda p: "{SHA512-CRYPT}" + sha512_crypt.using(rounds=5000).hash(p),
    lambda p: "{BLF-CRYPT}" + bcrypt.using(rounds=4).hash(p),
    lambda p: "{ARGON2I}" + argon2.using(type="I", memory_cost=8, time_cost=1,
                                        parallelism=1).hash(p),
    _ssha512,
    _dovecot_pbkdf2,
], ids=["sha512-crypt", "sha256-crypt", "bcrypt-2b", "bcrypt-2y", "md5-crypt", "argon2i",
        "{SHA512-CRYPT}", "{BLF-CRYPT}", "{ARGON2I}", "{SSHA512}", "{PBKDF2}"])
def test_generated_legacy_hashes_verify_and_are_rehashed(make):
    stored = make(SECRET)
    matched, new = verify_password(SECRET, stored)
    assert matched and new is not None and _is_current(new, SECRET)
    assert verify_password("wrong password", stored) == (False, None)


def test_bcrypt_compares_the_first_72_bytes_like_the_server_it_came_from():
    long_password = "é" * 40  # 80 bytes in UTF-8
    matched, new = verify_password(long_password, DOVEADM_LONG_BCRYPT)
    assert matched
    # the rehash covers the whole password: the truncated form no longer opens the account
    assert new is not None and _is_current(new, long_password)
    assert verify_password(long_password.encode()[:72].decode(), new)[0] is False

    stored = bcrypt.using(rounds=4).hash("x" * 72)
    assert verify_password("x" * 100, stored)[0]
    assert verify_password("x" * 71, stored) == (False, None)


def test_bcrypt_with_nul_byte_fails_without_raising():
    stored = bcrypt.using(rounds=4).hash("abcdefgh")
    assert verify_password("abc\x00defgh", stored) == (False, None)


def test_cleartext_forms_with_encodings():
    encoded = base64.b64encode(SECRET.encode()).decode()
    assert verify_password(SECRET, "{PLAIN.B64}" + encoded)[0]
    assert verify_password(SECRET, "{plain}" + SECRET)[0]
    assert verify_password(SECRET, "{CLEARTEXT}" + SECRET)[0]
    assert verify_password(SECRET, "{SHA256.HEX}" + hashlib.sha256(SECRET.encode()).hexdigest())[0]


@pytest.mark.parametrize("stored", [
    "", "garbage", "{FOO}bar", "{SSHA512}!!!not base64", "{SSHA512}" + "A" * 8,
    "{PBKDF2}$1$salt$many$00", "{PBKDF2}$1$salt$5000$zz", "{PBKDF2}$1$salt$0$00",
    "{PBKDF2}$1$salt$99999999999$00", "{SHA512-CRYPT}$2y$05$" + "a" * 53,
    "{BLF-CRYPT}$6$salt$hash", "$6$broken", "$2x$05$" + "a" * 53, "{SSHA512.ROT13}abc",
    "4atYHBVvTGshw",  # a bare DES-crypt: accepted only behind {CRYPT}
    "{PLAIN.HEX}zz",
])
def test_unknown_or_malformed_hashes_fail_without_raising(stored):
    assert verify_password(SECRET, stored) == (False, None)


def test_des_crypt_only_with_its_prefix():
    assert verify_password("secret", "{DES-CRYPT}4atYHBVvTGshw")[0]  # doveadm pw -s DES-CRYPT
    assert verify_password("secret", "{CRYPT}4atYHBVvTGshw")[0]


def test_overlong_secret_never_verifies():
    stored = "{PLAIN}" + "a" * 5000
    assert verify_password("a" * 5000, stored) == (False, None)


@pytest.mark.parametrize("password", ["short", "", "x" * 1025, "with\x00nul"])
def test_password_policy_refuses(password):
    with pytest.raises(InvalidValue):
        check_password_policy(password)


def test_password_policy_accepts_eight_characters():
    check_password_policy("12345678")


def test_spend_time_on_anything():
    spend_time("")
    spend_time("x" * 10_000)
