"""Entry point of `python -m harness.runtime`, the runc-compatible CLI."""

import sys

from .cli import main

sys.exit(main())
