"""python -m harness: the command-line program."""

import sys

from .cli import main

sys.exit(main())
