"""Where the repository is, for tests that read shipped files or start the real server."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
