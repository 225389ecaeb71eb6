"""``python -m envcapture.cli``: the console script."""

import sys

from envcapture.cli import main

sys.exit(main())
