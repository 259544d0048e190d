"""Organizational domains (RFC 7489 §3.2) from the public suffix list, offline.

Implementation notes:
- The list is the copy authheaders ships (newer than publicsuffix2's own); when that file
  is missing, publicsuffix2's bundled list. Nothing is ever downloaded.
- A name under a TLD the list does not know gets the default rule "*" (§3.2 step 3): its
  public suffix is the last label, so `mail.foo.example` belongs to `foo.example`.
- The list is loaded once per process (about 30 ms), on first use; the lookup is read-only
  and safe from several threads.
"""

from __future__ import annotations

import functools
import importlib.resources

from publicsuffix2 import PublicSuffixList


@functools.cache
def _suffix_list() -> PublicSuffixList:
    try:
        shipped = importlib.resources.files("authheaders") / "public_suffix_list.txt"
        if shipped.is_file():
            with importlib.resources.as_file(shipped) as path:
                return PublicSuffixList(psl_file=str(path))
    except ModuleNotFoundError:
        pass
    return PublicSuffixList()


def organizational_domain(domain: str) -> str:
    """The public suffix of `domain` plus one label; `domain` itself when it is a suffix."""
    domain = domain.lower().rstrip(".")
    labels = domain.split(".")
    suffix = _suffix_list().get_tld(domain) or labels[-1]
    suffix_labels = suffix.count(".") + 1
    if len(labels) <= suffix_labels:
        return domain
    return ".".join(labels[-suffix_labels - 1:])


def aligned(domain: str, author_domain: str, mode: str) -> bool:
    """Identifier alignment (RFC 7489 §3.1): exact in strict mode ("s"), same org otherwise."""
    if not domain or not author_domain:
        return False
    if mode == "s":
        return domain.lower() == author_domain.lower()
    return organizational_domain(domain) == organizational_domain(author_domain)
