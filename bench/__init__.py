"""dlnet's benchmark suite: `python -m bench` (or `make bench`) from the repository root.

Each comparison is measured side by side in one run: the contenders take turns (A B C D,
B C D A, ...) for several repetitions, and each result is the median with its spread, so that a
shared, noisy machine slows every contender alike. The run writes a JSON file of results and a
markdown report (BENCHMARKS.md) with the machine, the library versions and the goals.

Sections (`--only` takes a comma-separated subset):
  training   time per epoch of dlnet against scikit-learn, PyTorch, the article's code and a bare
             NumPy loop, for full batch, mini-batch (32) and stochastic updates
  scaling    time per epoch and peak memory as rows and hidden units grow
  tracking   a 2,000-epoch run with and without MLflow tracking
  sweeps     a 12-run Hydra grid with the basic and the joblib launcher
  startup    `dlnet-train --help` and a no-op `dvc repro`

`--smoke` runs every section with tiny sizes, in well under a minute, to keep the suite working;
its numbers mean nothing.
"""
