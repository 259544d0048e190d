"""mfserver: a self-hostable, privacy-first mail and groupware server."""

__version__ = "0.1.0"
