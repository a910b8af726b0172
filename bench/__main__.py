"""`python -m bench`: run the benchmark suite (see bench/__init__.py)."""

import sys

from bench.cli import main

sys.exit(main())
