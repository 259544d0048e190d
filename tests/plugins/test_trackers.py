"""plugins.trackers over the corpus: trackers out, every other byte kept."""

from __future__ import annotations

import email
import email.policy

import pytest

from mfserver.milter.message import MilterMessage
from mfserver.milter.mime import leaves, read_header
from plugins.trackers import HEADER, Trackers, clean_body, shipped_domains
from plugins.trackers.clean import Cleaner
from tests.milter.helpers import envelope, peer
from tests.plugins.corpus import load

CLEANER = Cleaner(shipped_domains())


def cleaned(name: str) -> tuple[bytes, bytes, MilterMessage]:
    raw = load(name)
    message = MilterMessage.parse(peer(), envelope(), raw)
    Trackers(CLEANER).eom(message)
    return raw, message.as_bytes(), message


def _parts(raw: bytes) -> list:
    return list(email.message_from_bytes(raw, policy=email.policy.default).walk())


def test_mailchimp_newsletter():
    raw, out, message = cleaned("newsletter_mailchimp.eml")
    html = _parts(out)[2].get_content()
    assert "track/open.php" not in html and "list-manage.com/track/click" in html
    assert "utm_" not in out.decode("utf-8") and "mc_cid" not in html
    assert "https://bakery.example/bread/sourdough?id=7" in html
    assert 'src="https://mcusercontent.com/4f2a/images/hero-banner.jpg"' in html  # real image
    assert "Café Bäckerei" in html and "Café Bäckerei" in _parts(out)[1].get_content()
    assert message.get(HEADER) == "4 (1 pixels, 3 links)"
    # the header block is the same plus our field; the preamble and boundaries too
    assert out.startswith(raw.partition(b"\r\n\r\n")[0])
    assert b"This is a multi-part message in MIME format" in out


def test_sendgrid_base64_latin1_stays_base64_latin1():
    raw, out, message = cleaned("newsletter_sendgrid.eml")
    part = _parts(out)[0]
    assert part["Content-Transfer-Encoding"] == "base64"
    assert part.get_content_charset() == "iso-8859-1"
    html = part.get_content()
    assert "soldes d'été" in html
    assert "sendgrid.net/wf/open" not in html
    assert 'href="https://shop.example/sale?ref=42"' in html
    assert 'href="https://shop.example/stores?city=lyon"' in html  # unwrapped, fbclid gone


def test_substack_hidden_pixels_and_untouched_attachment():
    raw, out, message = cleaned("newsletter_substack.eml")
    html = _parts(out)[3].get_content()
    assert "beacon.gif" not in html and "eJw1jksK" not in html
    assert "photo.jpg" in html
    pdf = raw[raw.index(b"Content-Type: application/pdf"):]
    assert out.endswith(pdf)  # the attachment part, byte for byte


@pytest.mark.parametrize("name", ["personal.eml", "pgp_signed.eml", "pgp_encrypted.eml",
                                  "smime_signed.eml", "attachments.eml"])
def test_mail_without_trackers_or_signed_passes_untouched(name):
    raw, out, message = cleaned(name)
    assert out == raw and not message.changed


def test_non_utf8_charset_text():
    raw, out, _ = cleaned("shift_jis.eml")
    text = _parts(out)[0].get_content()
    assert "utm_" not in text and "https://shop.example.jp/news?id=5" in text
    assert "お知らせ" in text


def test_every_changed_part_still_decodes():
    for name in ("newsletter_mailchimp.eml", "newsletter_sendgrid.eml",
                 "newsletter_substack.eml"):
        _, out, _ = cleaned(name)
        header, _, body = out.partition(b"\r\n\r\n")
        for leaf in leaves(read_header(header + b"\r\n"), body):
            assert leaf.content_type  # walkable
        for part in _parts(out):
            if part.get_content_maintype() == "text":
                part.get_content()


def test_clean_body_counts_nothing_on_plain_links():
    body, tally = clean_body(CLEANER, b"Content-Type: text/plain\r\n",
                             b"see https://example.com/a?b=1&c=2 and http://x.example/\r\n")
    assert tally.total == 0 and body.endswith(b"http://x.example/\r\n")


def test_redirect_wrappers():
    assert CLEANER.clean_url("https://www.google.com/url?q=https://a.example/x&sa=D") == \
        "https://a.example/x"
    assert CLEANER.clean_url("https://l.facebook.com/l.php?u=https%3A%2F%2Fb.example%2F"
                             "%3Futm_source%3Dfb&h=AT0") == "https://b.example/"
    assert CLEANER.clean_url("https://click.mlsend.com/link?url=https%3A%2F%2Fc.example"
                             "%2Fd") == "https://c.example/d"
    # not a tracker: left exactly as it was
    url = "https://www.google.com/search?q=https://a.example"
    assert CLEANER.clean_url(url) == url


def test_broken_mime_is_cleaned_where_it_can_be_and_kept_elsewhere():
    raw, out, message = cleaned("broken_mime.eml")
    assert b'href="https://odd.example/"' in out
    assert out.endswith(b"!!!not base64 at all!!!\r\n")
