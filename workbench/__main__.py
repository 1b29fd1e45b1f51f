"""`python -m workbench` is the `workbench` command (a fresh clone has no script yet)."""

import sys

from workbench.cli import main

sys.exit(main())
