"""python -m inside.dump: the dump stage's entry point inside an environment."""

import sys

from . import main

sys.exit(main())
