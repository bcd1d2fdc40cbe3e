"""The whole pipeline (data -> train/sweep -> promote -> deploy) from one YAML; for ``ray job submit``.

    ray job submit --working-dir . -- python jobs/pipeline.py --config configs/pipeline.yaml

Exits 0 when every step succeeded, 1 if one failed (the summary says which), 2 on bad input.
"""

import sys

from seqlab.cli import main

if __name__ == "__main__":
    sys.exit(main(["pipeline", *sys.argv[1:]]))
