"""Ray Serve for seqlab: one FastAPI application per task over the MLflow registry's champion.

    from seqlab.serve.deploy import deploy
    from seqlab.serve.schemas import ServeArgs
    deploy([ServeArgs(task=name) for name in TASKS], port=8000)
    deploy([ServeArgs(task=name)], reload=True)   # after `seqlab promote`: new champion, no downtime

Modules: ``schemas`` (args, shared replies), ``model`` (load a registry version), ``service`` (one replica's
state, no Ray needed), ``http`` (the FastAPI apps), ``app`` (the Serve deployments, ``build_app`` for
serve.yaml), ``deploy`` (``deploy``, ``seqlab serve``). Importing this package does not import Ray.
It may import ``tracking``, ``tasks`` (the registry, never a task by name), ``runtime``, ``checkpoint``,
``config`` and ``errors``; never training code (``training``, ``sweeps``).
"""
