"""`python -m mfserver` is the `mfserver` command."""

import sys

from mfserver.cli.main import main

sys.exit(main())
