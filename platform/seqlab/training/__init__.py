"""Training: the Ray Train driver, the loop each worker runs, resuming a run, and the optimizers.

    driver.py  ``run_training``: validate, prepare the data once, start a ``TorchTrainer``, track the run;
               ``train_fn_per_worker``: what each Ray Train worker runs
    loop.py    ``run_epochs`` (one worker's shard of every epoch) and the held-out evaluation
    resume.py  a run's checkpoints, whether one may be continued under a config, its MLflow run reopened
    optim.py   LazyAdam for sparse gradients, Keras' RMSprop, ``build_optimizer``

It may import ``tracking``, ``tasks`` (the ``Task`` interface, never a task by name), ``models``, ``data``,
``runtime``, ``checkpoint``, ``config`` and ``errors``; never ``serve`` or ``sweeps``.
"""
