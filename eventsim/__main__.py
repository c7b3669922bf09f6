"""``python -m eventsim``: the same command line as the ``eventsim`` console script."""

import sys

from eventsim.cli import main

if __name__ == "__main__":
    sys.exit(main())
