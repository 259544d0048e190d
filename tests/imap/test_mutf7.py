"""Modified UTF-7 mailbox names (RFC 3501 5.1.3): the RFC's example, strictness, round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mfserver.imap import mutf7

EXAMPLES = [  # (name, encoded)
    ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),  # RFC 3501 5.1.3
    ("INBOX", "INBOX"),
    ("Entwürfe", "Entw&APw-rfe"),
    ("Gelöschte Elemente", "Gel&APY-schte Elemente"),
    ("Корзина", "&BBoEPgRABDcEOAQ9BDA-"),
    ("Tom & Jerry", "Tom &- Jerry"),
    ("&", "&-"),
    ("&&", "&-&-"),
    ("a&é", "a&-&AOk-"),
    ("é&", "&AOk-&-"),
    ("\U0001f4e7 mail", "&2D3c5w- mail"),  # a surrogate pair
    ("tab\there", "tab&AAk-here"),  # controls are encoded too
    ("", ""),
]


@pytest.mark.parametrize(("name", "encoded"), EXAMPLES)
def test_examples(name, encoded):
    assert mutf7.encode(name) == encoded
    assert mutf7.decode(encoded) == name


@pytest.mark.parametrize("bad", [
    "&AGE-",  # "a" in base64: printable ASCII must stand for itself
    "&ACY-",  # "&" must be "&-"
    "&AOk",  # unterminated shift
    "&ZeVnLIqe",  # unterminated shift
    "&AOk-&AOk-",  # two shifts in a row: one run written twice
    "&AOl-",  # padding bits not zero
    "&AOkA-",  # a partial UTF-16 unit
    "&A-",  # 6 bits cannot end a unit
    "&2D0-",  # a lone high surrogate
    "&3gA-",  # a lone low surrogate
    "&!-",  # "&" followed by neither "-" nor base64
    "&",  # "&" at the end
    "&AO/-",  # "/" is "," in modified base64
    "&AOk=-",  # no padding in modified base64
    "é",  # 8-bit never appears in modified UTF-7
    "a\tb",  # nor controls
    "a\x7f",
])
def test_strict_decoding(bad):
    with pytest.raises(ValueError):
        mutf7.decode(bad)


def test_lone_surrogate_cannot_be_encoded():
    with pytest.raises(ValueError):
        mutf7.encode("a\ud800b")


@given(st.text())
def test_round_trip(name):
    encoded = mutf7.encode(name)
    assert encoded.isascii() and all(" " <= ch <= "~" for ch in encoded)
    assert mutf7.decode(encoded) == name


@given(st.text(alphabet=st.sampled_from("&-AOk+,/=aZ09 é\t"), max_size=20))
def test_decode_raises_only_value_error(text):
    try:
        name = mutf7.decode(text)
    except ValueError:
        return
    assert mutf7.encode(name) == text  # whatever decodes is canonical
