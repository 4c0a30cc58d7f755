"""``python -m headshot ARGS`` = ``headshot ARGS``; the form ``torchrun -m headshot train ...`` needs."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
