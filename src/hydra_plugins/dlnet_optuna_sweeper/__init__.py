"""dlnet's Hydra sweeper on Optuna 5: a Bayesian search with pruning (`hydra/sweeper=optuna`).

Hydra finds it here, in the `hydra_plugins` namespace package, and imports every module whose
name does not start with an underscore on every start: only sweeper.py, which imports Optuna
only once a study starts, so `dlnet-train --help` stays quick.

    sweeper.py  the Sweeper: ask a batch of trials, launch them, tell their outcomes
    _space.py   the search space, from Hydra's override syntax, checked before any trial
    _study.py   the study: its storage, sampler and pruner, its summary and plots
    _trial.py   the job's side: report a value each epoch, ask whether to stop
"""
