"""Outbound DKIM signing: our signatures verify through the records we tell admins to publish,
by dkimpy and by OpenDKIM's own verifier."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import dkim
import pytest

from mfserver.dkimkeys import DkimKey
from mfserver.mailauth import SigningError, check_message, sign_message
from mfserver.mailauth.dkimcheck import verify_signatures
from mfserver.mailauth.headers import split_header
from mfserver.mailauth.signing import signed_fields
from tests.mailauth.conftest import DOMAIN, MAIL_HOST, MAIL_HOST_IP, MESSAGE


def signature_tags(signed: bytes) -> list[dict[bytes, bytes]]:
    fields, _ = split_header(signed)
    return [dkim.util.parse_tag_value(field.raw.split(b":", 1)[1])
            for field in fields if field.name == "dkim-signature"]


def test_one_rsa_and_one_ed25519_signature_relaxed(keys):
    tags = signature_tags(sign_message(MESSAGE, DOMAIN, keys))
    assert [tag[b"a"] for tag in tags] == [b"rsa-sha256", b"ed25519-sha256"]
    assert {tag[b"c"] for tag in tags} == {b"relaxed/relaxed"}
    assert {tag[b"d"] for tag in tags} == {DOMAIN.encode()}
    assert [tag[b"s"].decode() for tag in tags] == [key.selector for key in keys]


def test_signed_fields_are_the_present_ones_with_from_oversigned():
    assert signed_fields(MESSAGE) == ["from", "to", "cc", "subject", "date", "message-id",
                                      "mime-version", "content-type", "list-id", "from"]
    assert "received" not in signed_fields(MESSAGE)


def test_signature_verifies_through_published_records(keys, resolver):
    signed = sign_message(MESSAGE, DOMAIN, keys)
    results = verify_signatures(signed, resolver)
    assert [(r.result, r.domain, r.algorithm) for r in results] == [
        ("pass", DOMAIN, "rsa-sha256"), ("pass", DOMAIN, "ed25519-sha256")]
    outcome = check_message(signed, client_ip=MAIL_HOST_IP, helo=MAIL_HOST,
                            mail_from="alice@example.com", resolver=resolver,
                            authserv_id="mx.example.net")
    assert (outcome.spf.result, outcome.dmarc.result) == ("pass", "pass")


def test_a_second_from_breaks_the_signature(keys, resolver):
    signed = sign_message(MESSAGE, DOMAIN, keys)
    forged = signed.replace(b"\r\n\r\n", b"\r\nFrom: mallory@example.com\r\n\r\n", 1)
    assert {r.result for r in verify_signatures(forged, resolver)} == {"fail"}


def test_relaxed_survives_refolding_and_trailing_space(keys, resolver):
    signed = sign_message(MESSAGE, DOMAIN, keys)
    relayed = signed.replace(b"Subject: Lunch on Friday", b"Subject:  Lunch on\r\n\tFriday")
    relayed = relayed.replace(b"noon?\r\n", b"noon?  \r\n")
    assert {r.result for r in verify_signatures(relayed, resolver)} == {"pass"}


def test_message_without_from_cannot_be_signed(keys):
    with pytest.raises(SigningError):
        sign_message(b"To: bob@example.org\r\n\r\nhi\r\n", DOMAIN, keys)


def test_unreadable_key_is_a_signing_error(tmp_path, keys):
    broken = tmp_path / "broken.key"
    broken.write_bytes(b"not a key\n")
    with pytest.raises(SigningError):
        sign_message(MESSAGE, DOMAIN, [DkimKey("x", "rsa", broken, "")])
    with pytest.raises(SigningError):
        sign_message(MESSAGE, DOMAIN, [DkimKey("x", "ed25519", tmp_path / "missing", "")])


# --- OpenDKIM's verifier ----------------------------------------------------------------
# `opendkim -t FILE` verifies a message in test mode; `TestPublicKeys` gives it the key
# records from a file instead of DNS, and `Nameservers 127.0.0.1` keeps any other lookup on
# loopback. Its verdicts are read from the Authentication-Results it would add (-vvv).

def opendkim_verdicts(tmp_path: Path, message: bytes, published: dict) -> list[str]:
    opendkim = shutil.which("opendkim") or "/usr/sbin/opendkim"
    assert Path(opendkim).exists(), "opendkim is missing (Debian package opendkim)"
    keys = tmp_path / "keys"
    keys.write_text("".join(f"{name} {value}\n" for (name, rtype), values in published.items()
                            if rtype == "TXT" and "._domainkey." in name for value in values))
    config = tmp_path / "opendkim.conf"
    config.write_text(f"Mode v\nTestPublicKeys {keys}\nSyslog no\nNameservers 127.0.0.1\n")
    path = tmp_path / "message.eml"
    path.write_bytes(message)
    run = subprocess.run([opendkim, "-x", str(config), "-t", str(path), "-vvv"],
                         capture_output=True, timeout=60)
    output = (run.stdout + run.stderr).decode("utf-8", "replace")
    assert run.returncode == 0, output
    return re.findall(r"dkim=(\w+)[^;']*header\.a=([\w-]+)", output)


def test_opendkim_verifies_our_signatures(tmp_path, keys, published):
    signed = sign_message(MESSAGE, DOMAIN, keys)
    assert sorted(opendkim_verdicts(tmp_path, signed, published)) == [
        ("pass", "ed25519-sha256"), ("pass", "rsa-sha256")]


def test_opendkim_rejects_a_changed_body(tmp_path, keys, published):
    signed = sign_message(MESSAGE, DOMAIN, keys).replace(b"noon", b"one")
    assert sorted(opendkim_verdicts(tmp_path, signed, published)) == [
        ("fail", "ed25519-sha256"), ("fail", "rsa-sha256")]


def test_utf8_header_fields_sign_and_verify(tmp_path, keys, resolver, published):
    """SMTPUTF8 mail (RFC 6532): 8-bit header fields are signed and verified as bytes."""
    message = MESSAGE.replace(b"Subject: Lunch on Friday",
                              "Subject: Mittagessen am Freitag – grüß dich".encode())
    signed = sign_message(message, DOMAIN, keys)
    assert [r.result for r in verify_signatures(signed, resolver)] == ["pass", "pass"]
    assert sorted(opendkim_verdicts(tmp_path, signed, published)) == [
        ("pass", "ed25519-sha256"), ("pass", "rsa-sha256")]
