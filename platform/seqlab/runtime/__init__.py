"""Process plumbing that any command needs and that knows nothing of tasks, models or MLflow.

    cluster.py     join a running Ray cluster or start an embedded one; Serve's and Train's environment
    signals.py     Ctrl-C / SIGTERM around Ray calls that install their own handlers; MLflow run status
    background.py  one call on a helper thread, its result or error taken later
    console.py     what a training prints: epoch lines, progress, the closing summary

It imports nothing of seqlab: every wing may stand on it.
"""
