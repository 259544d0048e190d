"""Per-account filter data the milters read and the `mfserver filter` command manages:
allow/block lists, per-account milter settings, and the Bayesian classifier's counts."""

from mfserver.filters.bayes import Bayes, tokens
from mfserver.filters.lists import (
    ALLOW,
    BLOCK,
    FilterError,
    FilterLists,
    Listing,
    normalise_pattern,
)

__all__ = ["ALLOW", "BLOCK", "Bayes", "FilterError", "FilterLists", "Listing",
           "normalise_pattern", "tokens"]
