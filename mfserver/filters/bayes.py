"""A per-account Bayesian junk classifier (Robinson/Fisher, as SpamBayes combines it).

Implementation notes:
- Tokens: lowercased words (3-40 characters) of the Subject and the text parts, plus a few
  header tokens (sender domain, mailer). Each is stored as the first 16 hex digits of its
  SHA-256, so the table holds no words of anyone's mail; at most MAX_TOKENS distinct tokens
  are taken from one message.
- Learning adds the message's tokens to the junk or the non-junk counts of the account; the
  database does it in one write transaction. Blocking: run in the thread pool.
- `probability()` is None until the account has learnt `min_messages` of each kind; then it
  is the Fisher (chi-square) combination of the MAX_CLUES most telling token probabilities,
  each smoothed with Robinson's f(w) (strength s=0.45, prior x=0.5): from 0 (surely not junk)
  to 1 (surely junk).
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import math
import re
from collections.abc import Iterable

from sqlalchemy import select

from mfserver.db import Database
from mfserver.db.models import BayesCount, BayesToken

MAX_TOKENS = 1500
MAX_CLUES = 150
MAX_TEXT = 256 * 1024
STRENGTH, PRIOR = 0.45, 0.5
_WORD = re.compile(r"[^\W\d_][\w'$€£-]{2,39}")
_TAG = re.compile(r"<[^>]{0,2000}>")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()[:16]


def _texts(raw: bytes) -> Iterable[str]:
    message = email.message_from_bytes(raw[:4 * MAX_TEXT], policy=email.policy.default)
    yield "subject " + str(message.get("Subject", ""))
    sender = str(message.get("From", ""))
    if "@" in sender:
        yield "from:" + sender.rpartition("@")[2].strip(" >").lower()
    mailer = message.get("X-Mailer") or message.get("User-Agent")
    if mailer:
        yield "mailer:" + str(mailer)[:40].lower()
    budget = MAX_TEXT
    for part in message.walk():
        if part.get_content_maintype() != "text" or budget <= 0:
            if part.get_content_maintype() not in ("text", "multipart"):
                yield "attachment:" + part.get_content_type()
            continue
        try:
            text = part.get_content()
        except (LookupError, ValueError, AssertionError):
            payload = part.get_payload(decode=True) or b""
            text = payload.decode("latin-1") if isinstance(payload, bytes) else str(payload)
        if part.get_content_subtype() == "html":
            text = _TAG.sub(" ", text)
        yield text[:budget]
        budget -= len(text)


def tokens(raw: bytes) -> set[str]:
    """The hashed tokens of a message (see the module notes)."""
    found: set[str] = set()
    for text in _texts(raw):
        if text.startswith(("from:", "mailer:", "attachment:")):
            found.add(_hash(text))
            continue
        for word in _WORD.findall(text.lower()):
            found.add(_hash(word))
            if len(found) >= MAX_TOKENS:
                return found
    return found


def _chi2_survival(chi: float, freedom: int) -> float:
    """P(X >= chi) for a chi-square variable with an even number of degrees of freedom."""
    m = chi / 2.0
    term = total = math.exp(-m)
    for i in range(1, freedom // 2):
        term *= m / i
        total += term
    return min(total, 1.0)


class Bayes:
    def __init__(self, database: Database, min_messages: int = 10) -> None:
        self.database = database
        self.min_messages = min_messages

    def learn(self, account_id: int, raw: bytes, spam: bool) -> int:
        """Count the message as junk (`spam`) or not; how many tokens it gave."""
        found = sorted(tokens(raw))
        with self.database.write() as session:
            counts = session.get(BayesCount, account_id)
            if counts is None:
                counts = BayesCount(account_id=account_id, spam=0, ham=0)
                session.add(counts)
            if spam:
                counts.spam += 1
            else:
                counts.ham += 1
            existing = {row.token: row for row in session.scalars(select(BayesToken).where(
                BayesToken.account_id == account_id, BayesToken.token.in_(found)))}
            for token in found:
                row = existing.get(token)
                if row is None:
                    session.add(BayesToken(account_id=account_id, token=token,
                                           spam=int(spam), ham=int(not spam)))
                elif spam:
                    row.spam += 1
                else:
                    row.ham += 1
        return len(found)

    def counts(self, account_id: int) -> tuple[int, int]:
        with self.database.read() as session:
            row = session.get(BayesCount, account_id)
            return (row.spam, row.ham) if row else (0, 0)

    def probability(self, account_id: int, raw: bytes) -> float | None:
        """How likely the message is junk for this account, or None if not trained enough."""
        spam_total, ham_total = self.counts(account_id)
        if min(spam_total, ham_total) < max(self.min_messages, 1):
            return None
        found = list(tokens(raw))
        with self.database.read() as session:
            rows = session.execute(select(BayesToken.spam, BayesToken.ham).where(
                BayesToken.account_id == account_id, BayesToken.token.in_(found))).all()
        clues = []
        for spam, ham in rows:
            spam_ratio, ham_ratio = spam / spam_total, ham / ham_total
            p = spam_ratio / (spam_ratio + ham_ratio) if spam_ratio + ham_ratio else PRIOR
            n = spam + ham
            f = (STRENGTH * PRIOR + n * p) / (STRENGTH + n)
            clues.append(min(max(f, 0.01), 0.99))
        clues.sort(key=lambda f: -abs(f - 0.5))
        clues = [f for f in clues[:MAX_CLUES] if abs(f - 0.5) > 0.1]
        if not clues:
            return 0.5
        h = _chi2_survival(-2.0 * sum(math.log(f) for f in clues), 2 * len(clues))
        s = _chi2_survival(-2.0 * sum(math.log(1.0 - f) for f in clues), 2 * len(clues))
        return (1.0 + h - s) / 2.0
