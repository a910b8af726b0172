"""A mistyped config key: one line naming the closest valid keys, a non-zero exit, nothing logged."""

import pytest
from conftest import BIN, run_tool, sqlite_uri


@pytest.mark.parametrize(
    ("arguments", "meant"),
    [
        (["optim.lrr=0.1"], "optim.lr"),
        (["-m", "trian.epochs=2,3"], "train.epochs"),
    ],
)
def test_a_typo_names_the_key_it_meant(built_project, tmp_path, arguments, meant):
    store = tmp_path / "mlflow.db"
    done = run_tool([str(BIN / "dlnet-train"), *arguments, f"tracking.uri={sqlite_uri(store)}"], built_project)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"did you mean {meant}?" in lines[0], done.stderr
    assert arguments[-1].split("=")[0] in lines[0]
    assert not store.exists() and "+" not in lines[0]  # nothing logged; no advice to append the key
