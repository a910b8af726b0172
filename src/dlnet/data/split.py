"""Assign rows to the train, validation and test parts.

Two splits:

* :func:`stratified_group_split`: stratified by class and group-aware. Rows sharing a
  group (the sample code number: one patient can have several rows, some identical)
  always land in the same part, so a validation or test score never sees a training
  patient. Seeded, so the same seed gives the same split.
* :func:`article_split`: the article's fixed split by position: rows 0-499 train, row
  500 unused, rows 501-end validation, no test part. It ignores the groups (ids leak
  across its parts) and exists to reproduce the article.

Both return an int array with one entry per row: 0 train, 1 val, 2 test, -1 unused.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dlnet.data.errors import DataError

PARTS = ("train", "val", "test")
UNUSED = -1
LABEL_NAMES = ("benign", "malignant")

ARTICLE_TRAIN_END = 500  # rows [0, 500) train
ARTICLE_VAL_START = 501  # row 500 unused, rows [501, n) validation


def class_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Rows per class of a part, by name: ``{"benign": n0, "malignant": n1}``."""
    counts = np.bincount(frame["label"].to_numpy(dtype=np.int64), minlength=2)
    return {name: int(count) for name, count in zip(LABEL_NAMES, counts, strict=True)}


def _round_half_up(x: float) -> int:
    return int(np.floor(x + 0.5))


def class_targets(per_class: np.ndarray, val_fraction: float, test_fraction: float) -> np.ndarray:
    """Rows of each class each part should get: shape (3 parts, classes).

    val and test get ``round(fraction * class count)`` rows of every class; train the rest.
    Raises :class:`DataError` when a part would miss a class.
    """
    val = np.array([_round_half_up(n * val_fraction) for n in per_class])
    test = np.array([_round_half_up(n * test_fraction) for n in per_class])
    targets = np.stack([per_class - val - test, val, test])
    keys = {
        0: "data.val_fraction + data.test_fraction",
        1: f"data.val_fraction={val_fraction}",
        2: f"data.test_fraction={test_fraction}",
    }
    for part, row in enumerate(targets):
        for label, count in enumerate(row):
            if count < 1:
                raise DataError(
                    f"{keys[part]}: the {PARTS[part]} part would hold {max(count, 0)} {LABEL_NAMES[label]} rows "
                    f"(of {per_class[label]}); every part needs both classes, so choose fractions that leave "
                    f"each part at least one row of each class"
                )
    return targets


def stratified_group_split(
    labels: np.ndarray, groups: np.ndarray, val_fraction: float, test_fraction: float, seed: int
) -> np.ndarray:
    """A seeded, class-stratified split that keeps each group in one part.

    ``labels``: (n,) ints 0/1; ``groups``: (n,) group keys (the sample ids).

    Greedy assignment: groups are visited in a random order (from ``seed``), largest
    first, each going to the part that can take it without exceeding its per-class target
    and whose target is least filled for the group's classes (ties broken at random). Singletons, visited last,
    then top every part up to its target exactly, so each part's class counts match the
    targets of :func:`class_targets` unless large mixed groups make that impossible.
    """
    labels = np.asarray(labels, dtype=np.int64)
    n_classes = 2
    per_class = np.bincount(labels, minlength=n_classes)
    targets = class_targets(per_class, val_fraction, test_fraction).astype(np.float64)

    _, group_of_row = np.unique(np.asarray(groups), return_inverse=True)
    group_of_row = group_of_row.ravel()
    n_groups = int(group_of_row.max()) + 1
    composition = np.zeros((n_groups, n_classes))
    np.add.at(composition, (group_of_row, labels), 1)

    rng = np.random.default_rng(seed)
    order = rng.permutation(n_groups)
    order = order[np.argsort(-composition[order].sum(axis=1), kind="stable")]

    tie_breaks = rng.random((n_groups, len(PARTS)))
    need = targets.copy()
    part_of_group = np.empty(n_groups, dtype=np.int64)
    for group in order:
        counts = composition[group]
        overflow = np.maximum(counts - need, 0).sum(axis=1)
        unmet = (need * counts).sum(axis=1) / np.maximum((targets * counts).sum(axis=1), 1)
        # least overflow first, then the part whose target is least filled; ties broken at random
        part = int(np.lexsort((tie_breaks[group], -unmet, overflow))[0])
        part_of_group[group] = part
        need[part] -= counts

    assignment = part_of_group[group_of_row]
    check_parts(assignment, labels, "data.split=stratified")
    return assignment


def article_split(n_rows: int) -> np.ndarray:
    """The article's split by position: rows 0-499 train, 500 unused, 501-end validation."""
    if n_rows <= ARTICLE_VAL_START:
        raise DataError(
            f"data.split=article needs more than {ARTICLE_VAL_START} rows "
            f"(rows 0-499 train, 501-end validation); the data has {n_rows} rows left after dropping "
            f"the rows with missing values"
        )
    assignment = np.full(n_rows, 1, dtype=np.int64)
    assignment[:ARTICLE_TRAIN_END] = 0
    assignment[ARTICLE_TRAIN_END:ARTICLE_VAL_START] = UNUSED
    return assignment


def check_parts(assignment: np.ndarray, labels: np.ndarray, what: str, required: tuple[int, ...] = (0, 1, 2)) -> None:
    """Raise :class:`DataError` if a required part lacks a class."""
    for part in required:
        present = np.bincount(labels[assignment == part], minlength=2)
        for label, count in enumerate(present):
            if count == 0:
                raise DataError(
                    f"{what}: the {PARTS[part]} part holds no {LABEL_NAMES[label]} rows; every part needs both classes"
                )
