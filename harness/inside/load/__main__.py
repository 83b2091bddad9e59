"""python -m inside.load: the load stage's entry point inside an environment."""

import sys

from . import main

sys.exit(main())
