"""``python -m streams.cli``: the same as the ``csscore`` script."""

import sys

from streams.cli.main import main

sys.exit(main())
