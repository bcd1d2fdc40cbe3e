"""Run a sweep with Ray Tune; the entry point for ``ray job submit``.

    ray job submit --working-dir . -- python jobs/tune.py --config configs/sentiment/sweep.yaml

Same arguments as ``seqlab tune``. Exits 0 when a best trial was found and no trial failed, 1 otherwise
(nothing is then promoted), 2 on bad input.
"""

import sys

from seqlab.cli import main

if __name__ == "__main__":
    sys.exit(main(["tune", *sys.argv[1:]]))
