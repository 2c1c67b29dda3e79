"""``python -m tapti_ext``: the ``tapti`` command."""

import sys

from ._cli import main

sys.exit(main())
