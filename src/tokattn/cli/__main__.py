"""`python -m tokattn.cli ...`: the same as the `tokattn` console script."""

import sys

from tokattn.cli import main

sys.exit(main())
