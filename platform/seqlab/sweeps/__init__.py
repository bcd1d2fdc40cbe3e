"""Sweeps with Ray Tune: many trainings over a search space, early stopping, one MLflow run per trial.

    sweep_file.py    the sweep YAML: base config, space, searcher, scheduler; ``load_sweep`` checks it
    search_space.py  dotted keys to Tune's sampling, conditional keys (``when:``), grid points
    resume.py        a killed sweep resumed: same content, Tune's state files and checkpoints repaired
    driver.py        ``run_sweep``: the Tuner, each trial's training, the summary and the promotion

It may import ``training``, ``tracking``, ``tasks``, ``runtime``, ``checkpoint``, ``config`` and ``errors``;
never ``serve``.
"""
