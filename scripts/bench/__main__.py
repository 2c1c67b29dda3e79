"""``python -m bench`` (from scripts/): see ``cli.py``."""

from .cli import main

raise SystemExit(main())
