"""Finding and removing trackers in HTML and plain text; pure (text in, text and count out).

Implementation notes:
- Text is handled as latin-1 `str` decoded from the part's bytes (a bijection), which is safe
  for every ASCII-compatible charset: tags, attributes and URLs are ASCII, and other bytes are
  carried through unchanged. Callers skip charsets that are not ASCII-compatible.
- A tracking pixel is an <img> that is tiny (width or height 0 or 1, by attribute or style),
  hidden (display:none, visibility:hidden, opacity 0), or served from a known tracking domain.
  The whole tag is removed.
- Links: a known click-redirect wrapper whose target is in the URL (a query parameter holding
  an http(s) URL) is replaced by that target; then tracking parameters (utm_*, fbclid, ...)
  are removed from the query. A URL that needs no change is left byte-identical (its
  escaping, order and spelling included).
- Every change counts as one tracker removed.
"""

from __future__ import annotations

import html
import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field

TRACKING_PARAMETERS = frozenset({
    "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid",
    "igshid", "mc_cid", "mc_eid", "mc_tc", "_hsenc", "_hsmi", "__hssc", "__hstc", "__hsfp",
    "hsctatracking", "mkt_tok", "oly_anon_id", "oly_enc_id", "rb_clickid", "s_cid",
    "vero_conv", "vero_id", "_openstat", "ck_subscriber_id", "trk", "trkcampaign",
    "sc_campaign", "sc_channel", "sc_content", "sc_medium", "sc_outcome", "sc_geo",
    "sc_country", "mbid", "cmpid", "ncid", "wt_mc", "wt.mc_id", "_kx", "ml_subscriber",
    "ml_subscriber_hash", "ss_source", "ss_campaign_id", "ss_email_id", "elqtrackid",
    "elqtrack", "elq", "elqaid", "elqat", "elqcampaignid", "_bta_tid", "_bta_c", "spm",
    "sfmc_id", "sfmc_sub", "e_id", "email_source", "email_campaign",
})
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_", "matomo_")
# click-redirect wrappers that carry their target in a parameter: host suffix -> parameters
REDIRECTS: dict[str, tuple[str, ...]] = {
    "google.com": ("q", "url"), "l.facebook.com": ("u",), "lm.facebook.com": ("u",),
    "l.instagram.com": ("u",), "youtube.com": ("q",), "linkedin.com": ("url",),
    "href.li": ("",), "slack-redir.net": ("url",), "t.umblr.com": ("z",),
    "steamcommunity.com": ("url",), "vk.com": ("to",), "out.reddit.com": ("url",),
}
GENERIC_TARGETS = ("url", "u", "redirect", "redirect_url", "target", "to", "dest",
                   "destination", "link", "goto", "r", "q")

_IMG = re.compile(r"<img\b[^>]{0,4000}>", re.IGNORECASE)
_ATTRIBUTE = re.compile(r"""([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+)""")
_HREF = re.compile(r"""(\b(?:href|src)\s*=\s*)("[^"]*"|'[^']*'|[^\s"'>]+)""", re.IGNORECASE)
_TEXT_URL = re.compile(r"https?://[^\s<>\"'()\[\]]+", re.IGNORECASE)
_TINY = re.compile(r"^\s*[01](?:\.0*)?\s*(?:px)?\s*$")
_STYLE_TINY = re.compile(r"(?:^|;)\s*(?:width|height|max-width|max-height)\s*:\s*[01](?:px)?"
                         r"\s*(?:!important)?\s*(?:;|$)", re.IGNORECASE)
_STYLE_HIDDEN = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden|opacity\s*:\s*0(?:\.0*)?"
                           r"\s*(?:;|$)", re.IGNORECASE)


@dataclass
class Tally:
    pixels: int = 0
    links: int = 0

    @property
    def total(self) -> int:
        return self.pixels + self.links


@dataclass
class Cleaner:
    """Removes trackers; `domains` are the tracking domains (each covers its subdomains)."""

    domains: frozenset[str] = field(default_factory=frozenset)

    def tracking_host(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        labels = host.split(".")
        return any(".".join(labels[i:]) in self.domains for i in range(len(labels) - 1))

    # -- URLs -------------------------------------------------------------------------------

    def clean_url(self, url: str) -> str:
        """The URL without its redirect wrapper and tracking parameters (or `url` itself)."""
        for _ in range(3):  # a wrapper inside a wrapper, at most this deep
            target = self._unwrapped(url)
            if target is None:
                break
            url = target
        return _without_tracking_parameters(url)

    def _unwrapped(self, url: str) -> str | None:
        try:
            parts = urllib.parse.urlsplit(url)
        except ValueError:
            return None
        host = (parts.hostname or "").lower()
        names: Iterable[str] = ()
        for suffix, params in REDIRECTS.items():
            if host == suffix or host.endswith("." + suffix):
                names = params
                if suffix == "google.com" and parts.path != "/url":
                    names = ()
                if suffix == "youtube.com" and parts.path != "/redirect":
                    names = ()
                break
        else:
            if self.tracking_host(host):
                names = GENERIC_TARGETS
        if not names:
            return None
        if "" in names and parts.query.startswith(("http://", "https://")):
            return parts.query
        query = urllib.parse.parse_qs(parts.query, keep_blank_values=False)
        for name in names:
            for value in query.get(name, ()):
                if value.lower().startswith(("http://", "https://")):
                    return value
        return None

    # -- HTML and text ----------------------------------------------------------------------

    def clean_html(self, text: str, tally: Tally) -> str:
        def image(match: re.Match[str]) -> str:
            if self._is_pixel(match.group(0)):
                tally.pixels += 1
                return ""
            return match.group(0)

        def link(match: re.Match[str]) -> str:
            raw = match.group(2)
            quote = raw[0] if raw[0] in "\"'" else ""
            inner = raw[1:-1] if quote else raw
            url = html.unescape(inner)
            if not url.lower().startswith(("http://", "https://")):
                return match.group(0)
            cleaned = self.clean_url(url)
            if cleaned == url:
                return match.group(0)
            tally.links += 1
            escaped = cleaned.replace("&", "&amp;").replace('"', "&quot;")
            return f"{match.group(1)}{quote or chr(34)}{escaped}{quote or chr(34)}"

        text = _IMG.sub(image, text)
        return _HREF.sub(link, text)

    def clean_text(self, text: str, tally: Tally) -> str:
        def link(match: re.Match[str]) -> str:
            url = match.group(0)
            trail = ""
            while url and url[-1] in ".,;:!?":
                url, trail = url[:-1], url[-1] + trail
            cleaned = self.clean_url(url)
            if cleaned == url:
                return match.group(0)
            tally.links += 1
            return cleaned + trail
        return _TEXT_URL.sub(link, text)

    def _is_pixel(self, tag: str) -> bool:
        attributes = {name.lower(): value.strip("\"'")
                      for name, value in _ATTRIBUTE.findall(tag)}
        if any(_TINY.match(attributes.get(name, "x")) for name in ("width", "height")):
            return True
        style = attributes.get("style", "")
        if _STYLE_TINY.search(style) or _STYLE_HIDDEN.search(style):
            return True
        try:
            host = urllib.parse.urlsplit(html.unescape(attributes.get("src", ""))).hostname
        except ValueError:
            return False
        return bool(host) and self.tracking_host(host)


def _without_tracking_parameters(url: str) -> str:
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return url
    if not parts.query:
        return url
    pairs = parts.query.split("&")
    kept = [pair for pair in pairs if not _tracking(pair.partition("=")[0])]
    if len(kept) == len(pairs):
        return url
    return urllib.parse.urlunsplit(parts._replace(query="&".join(kept)))


def _tracking(name: str) -> bool:
    name = urllib.parse.unquote(name).lower()
    return name in TRACKING_PARAMETERS or name.startswith(TRACKING_PREFIXES)


def load_domains(lines: Iterable[str]) -> frozenset[str]:
    return frozenset(line.strip().lower().rstrip(".") for line in lines
                     if line.strip() and not line.lstrip().startswith("#"))
