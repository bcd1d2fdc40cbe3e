"""Several seqlab processes opening one new SQLite MLflow store at the same moment all get a working store.

The first opening of a SQLite store runs MLflow's schema migrations; two processes migrating one file at once
fail ("database is locked", "table already exists", alembic's CircularDependencyError). This happens when two
seqlab commands start on a fresh store together, and it happened in the sweep-resume test, whose own client
opened the store while the ``seqlab tune`` it had started did.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROCESSES = 4

# Each process imports MLflow and seqlab first, says it is ready, waits until all are, then opens the store.
OPENER = """
import sys, time
from pathlib import Path
from seqlab.tracking import runs
folder, me, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
(folder / f"ready-{me}").touch()
while len(list(folder.glob("ready-*"))) < n:
    time.sleep(0.005)
try:
    runs.client(f"sqlite:///{folder}/mlflow.db").search_experiments(max_results=1)
    print("ok")
except Exception as exc:
    print(f"FAILED {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
"""


def test_processes_opening_a_new_store_together_all_succeed(tmp_path: Path) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", OPENER, str(tmp_path), str(i), str(PROCESSES)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
             for i in range(PROCESSES)]
    answers = [p.communicate(timeout=180)[0].strip().splitlines()[-1:] for p in procs]
    assert answers == [["ok"]] * PROCESSES
