"""Deploy (or reload) the Serve applications; the entry point for ``ray job submit``.

    ray job submit --working-dir . -- python jobs/deploy.py --config configs/serve.yaml
    ray job submit --working-dir . -- python jobs/deploy.py --reload      # after `seqlab promote`

Same flags as ``seqlab serve``. Inside a job ``RAY_ADDRESS`` points at the cluster, so the apps keep
running after the job exits. Exits 0 on success, 2 on bad input (the error is in ``ray job logs``).
"""

import sys

from seqlab.serve.deploy import main

if __name__ == "__main__":
    sys.exit(main())
