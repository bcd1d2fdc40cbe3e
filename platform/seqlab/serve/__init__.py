"""Ray Serve for seqlab: one FastAPI application per task over the MLflow registry's champion.

    from seqlab.serve import ServeArgs, deploy
    deploy([ServeArgs(task=name) for name in TASKS], port=8000)
    deploy([ServeArgs(task=name)], reload=True)   # after `seqlab promote`: new champion, no downtime

Modules: ``schemas`` (args, shared replies), ``model`` (load a registry version), ``service`` (one replica's state, no Ray needed), ``http`` (the FastAPI apps), ``app`` (the
Serve deployments, ``build_app`` for serve.yaml), ``deploy`` (``deploy``, ``seqlab serve``).
Importing this package does not import Ray; nothing here imports training code.
"""

from seqlab.serve.schemas import HealthArgs, ReloadConfig, ServeArgs

__all__ = ["HealthArgs", "ReloadConfig", "ServeArgs", "deploy"]


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    if name == "deploy":  # lazily: it pulls in Ray
        from seqlab.serve.deploy import deploy

        return deploy
    raise AttributeError(name)
