"""Milters shipped with mfserver, one module each, listed by dotted path in the configuration.

The milter chain (its API and the shipped trackers, ipscrub, spam, malware and sieve plugins)
lands with the milter issue; this package is where they live.
"""
