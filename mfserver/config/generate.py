"""`python -m mfserver.config.generate`: rewrite conf/mfserver.toml and conf/production.toml from the schema."""

from __future__ import annotations

import sys
from pathlib import Path

from mfserver.config import render_config

PRODUCTION = {
    "server": {"hostname": "mail.example.org", "data_dir": "/var/lib/mfserver"},
    "tls": {"certificate": "/etc/letsencrypt/live/mail.example.org/fullchain.pem",
            "private_key": "/etc/letsencrypt/live/mail.example.org/privkey.pem"},
    "listen": {"addresses": ["0.0.0.0", "::"], "smtp": 25, "submission": 587, "smtps": 465,
               "imap": 143, "imaps": 993, "pop3": 110, "pop3s": 995, "https": 443,
               "http": 80},
}


def main(conf: Path) -> None:
    (conf / "mfserver.toml").write_text(render_config())
    (conf / "production.toml").write_text(render_config(PRODUCTION))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("conf"))
