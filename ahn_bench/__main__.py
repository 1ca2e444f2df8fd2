"""`python -m ahn_bench ...` (what `accelerate launch -m ahn_bench ...` runs in every process)."""

import sys

from ahn_bench.cli import main

sys.exit(main())
