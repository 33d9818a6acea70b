"""`python3 -m tools.testbed` (from the checkout's root) is the test-bed CLI."""

import sys

from .cli import main

sys.exit(main())
