"""``python -m linrfm``: the same command line as the ``linrfm`` script."""

import sys

from linrfm.cli import main

if __name__ == "__main__":
    sys.exit(main())
