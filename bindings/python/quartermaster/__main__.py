"""`python -m quartermaster sweep SCENARIO GRID [--seeds 0..4] [--executor ray] [--csv OUT]`:
a sweep from the command line (see `quartermaster.sweep`)."""

import sys

from quartermaster.sweep import main

USAGE = "usage: python -m quartermaster sweep SCENARIO GRID [--seeds ..] [--executor ..] [--csv ..]"

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] != "sweep":
        print(USAGE, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[2:]))
