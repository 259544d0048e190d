"""The `mfserver` command: argument parsing and the one place errors become exit codes.

Implementation notes:
- Each subcommand group lives in its own module and registers itself with `add_parser(sub)`;
  a handler takes the parsed arguments and a `Context` and returns the exit status.
- Every error an admin can cause (configuration, unknown user, bad value, full mailbox, file
  problems) is printed as one line on stderr with a non-zero status. An unexpected exception
  is also one line, unless $MFSERVER_DEBUG is set, which shows the traceback.
- Passwords come from a prompt or from standard input (`--password-stdin`), never from the
  command line, where other users of the machine could read them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from mfserver import __version__
from mfserver.accounts import AccountError
from mfserver.cli import accounts, factors, filters, maildrop, queue, setup, share
from mfserver.cli.context import CommandError, Context
from mfserver.config import ConfigError
from mfserver.store import StoreError

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mfserver", description="Administer an mfserver mail server.")
    parser.add_argument("--version", action="version", version=f"mfserver {__version__}")
    parser.add_argument("--config", metavar="FILE",
                        help="configuration file (default: $MFSERVER_CONFIG, else the built-in "
                             "defaults with data under ./var)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                parser_class=_Parser)
    for module in (setup, accounts, factors, maildrop, queue, share, filters):
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    context = Context(args.config)
    try:
        return args.handler(args, context) or 0
    except (ConfigError, AccountError, StoreError, CommandError) as exc:
        print(f"mfserver: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("mfserver: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place that turns surprises into a line
        if os.environ.get("MFSERVER_DEBUG"):
            raise
        print(f"mfserver: internal error: {type(exc).__name__}: {exc} "
              "(set MFSERVER_DEBUG=1 to see where)", file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        context.close()


if __name__ == "__main__":
    sys.exit(main())
