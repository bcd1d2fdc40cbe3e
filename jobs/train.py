"""Train one config on Ray Train; the entry point for ``ray job submit``.

    ray job submit --working-dir . -- python jobs/train.py --config configs/sentiment/conv1d.yaml train.num_workers=2

Same arguments as ``seqlab train``. Exits 0 on success, 2 on bad input (the error is in ``ray job logs``).
"""

import sys

from seqlab.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
