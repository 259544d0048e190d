"""The milter chain: what every message passes between "received" and "delivered or queued"."""

from mfserver.milter.api import (
    ACCEPT,
    CONTINUE,
    Action,
    Chain,
    ChainResult,
    Direction,
    Envelope,
    NoChain,
    Peer,
    Recipient,
    Verdict,
    discard,
    quarantine,
    reject,
    tempfail,
)

__all__ = ["ACCEPT", "CONTINUE", "Action", "Chain", "ChainResult", "Direction", "Envelope",
           "NoChain", "Peer", "Recipient", "Verdict", "discard", "quarantine", "reject",
           "tempfail"]
