"""The Wisconsin Diagnostic Breast Cancer set (WDBC), from scikit-learn's bundled copy.

569 samples, 30 real-valued features computed from digitised images of fine-needle
aspirates (mean, standard error and worst value of ten nucleus measurements). Read
offline with :func:`sklearn.datasets.load_breast_cancer`.

scikit-learn's target is 0 = malignant, 1 = benign; dlnet's label is 1 = malignant
everywhere, so ``label = 1 - target``. The set has no sample ids: the row index is the id.
"""

from __future__ import annotations

import hashlib
import re
from importlib import resources

import numpy as np
import pandas as pd

SOURCE_PACKAGE = "sklearn.datasets.data"
SOURCE_FILE = "breast_cancer.csv"


def snake_case(name: str) -> str:
    """scikit-learn's feature name as a column name: ``'mean concave points'`` -> ``'mean_concave_points'``."""
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def source_sha256() -> str:
    """SHA-256 of the CSV file scikit-learn loads the set from (the raw data's digest)."""
    return hashlib.sha256(resources.files(SOURCE_PACKAGE).joinpath(SOURCE_FILE).read_bytes()).hexdigest()


def source_description() -> str:
    """Where the set comes from, with scikit-learn's version."""
    import sklearn

    return f"sklearn.datasets.load_breast_cancer (scikit-learn {sklearn.__version__})"


def read_wdbc() -> pd.DataFrame:
    """The set as a table: ``id`` (row index), the 30 features (snake_case), ``label`` (1 = malignant)."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    names = [snake_case(str(name)) for name in bunch.feature_names]
    table = pd.DataFrame(np.asarray(bunch.data, dtype=np.float64), columns=names)
    table.insert(0, "id", np.arange(len(table), dtype=np.int64))
    table["label"] = (1 - np.asarray(bunch.target)).astype(np.int64)
    return table
