"""`dlnet-train -m hydra/sweeper=optuna` for real, in a subprocess: studies, pruning, resuming."""

from __future__ import annotations

import pytest
from conftest import BIN, REPO, run_tool, sqlite_uri
from test_sweeps import runs_of

TRAIN = str(BIN / "dlnet-train")
# The search space on the command line, in place of conf/hydra/sweeper/optuna.yaml's.
SPACE = [
    "~hydra.sweeper.params",
    "optim.lr=tag(log,interval(0.01,1.0))",
    "model.hidden_units=tag(log,int(interval(2,32)))",
    "batch=choice(full,mini)",
]


def study(project, folder, *args, trials: int, epochs: int = 8):
    """Run one study command; return (MLflow URI, Optuna storage URL, the finished process)."""
    folder.mkdir(parents=True, exist_ok=True)
    uri, storage = sqlite_uri(folder / "mlflow.db"), sqlite_uri(folder / "optuna.db")
    done = run_tool(
        [
            TRAIN,
            "-m",
            "hydra/sweeper=optuna",
            f"hydra.sweeper.n_trials={trials}",
            f"hydra.sweeper.storage={storage}",
            f"train.epochs={epochs}",
            f"tracking.uri={uri}",
            f"hydra.sweep.dir={folder / 'sweep'}",
            *args,
        ],
        project,
        timeout=580,
    )
    return uri, storage, done


def trials_of(storage: str, name: str = "dlnet-original"):
    import optuna

    return optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)


def split(runs):
    parents = [r for r in runs if r.data.tags.get("dlnet.sweep") == "parent"]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return parents, children


def test_seeded_study_repeats_itself_and_resumes(built_project, tmp_path):
    seeded = [*SPACE, "hydra.sweeper.sampler.seed=3", "hydra.sweeper.sampler.n_startup_trials=5"]
    uri, storage, done = study(built_project, tmp_path / "a", *seeded, trials=12)
    assert done.returncode == 0, done.stdout + done.stderr
    _, again_storage, again = study(built_project, tmp_path / "b", *seeded, trials=12)
    assert again.returncode == 0, again.stderr
    first, second = trials_of(storage), trials_of(again_storage)
    assert [t.params for t in first] == [t.params for t in second]  # the same trials, in the same order
    best = min((t for t in first if t.value is not None), key=lambda t: t.value)
    assert best.params == min((t for t in second if t.value is not None), key=lambda t: t.value).params
    assert len({t.params["optim.lr"] for t in first}) == 12  # a search, not one point twelve times

    client, runs = runs_of(uri)
    (parent,), children = split(runs)
    assert len(children) == 12 and parent.info.status == "FINISHED"
    assert parent.info.run_name == "study dlnet-original: 12 trials of lr × h × batch"
    assert parent.data.tags["dlnet.study.best_trial"] == str(best.number)
    assert float(parent.data.params["best.optim.lr"]) == pytest.approx(best.params["optim.lr"])
    assert parent.data.metrics["study/best_value"] == pytest.approx(best.value)
    assert {c.data.tags["dlnet.trial"] for c in children} == {str(t.number) for t in first}
    for child in children:
        trial = first[int(child.data.tags["dlnet.trial"])]
        assert float(child.data.params["optim.lr"]) == pytest.approx(trial.params["optim.lr"])
        if trial.value is not None:  # the study's value is the run's last validation loss
            last = max(client.get_metric_history(child.info.run_id, "val/loss"), key=lambda m: m.step)
            assert last.value == pytest.approx(trial.value)
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {
        "study_history.png",
        "study_importances.png",
        "study_slices.png",
        "sweep_val_loss.png",
        "sweep_results.md",
    } <= artifacts
    assert "Study dlnet-original" in done.stdout and "12 trials in all" in done.stdout

    # The same command again adds trials to the same study, under a second parent run.
    uri, storage, resumed = study(built_project, tmp_path / "a", *seeded, trials=4)
    assert resumed.returncode == 0, resumed.stderr
    assert len(trials_of(storage)) == 16 and "16 trials in all" in resumed.stdout
    parents, children = split(runs_of(uri)[1])
    assert len(parents) == 2 and len(children) == 16


# A wide learning-rate range: the smallest rates barely move the loss in 30 epochs.
PRUNING = [
    "~hydra.sweeper.params",
    "optim.lr=tag(log,interval(0.0001,1.0))",
    "model.hidden_units=8",
    "batch=full",
    "hydra.sweeper.sampler.seed=1",
    "hydra.sweeper.report_every=1",
    "hydra.sweeper.pruner.n_startup_trials=2",
    "hydra.sweeper.pruner.n_warmup_steps=3",
]


def check_pruned_study(uri: str, storage: str, done, trials: int, epochs: int) -> int:
    """Every trial has its run, and every pruned trial's run says so and stops at its epoch."""
    from optuna.trial import TrialState

    assert done.returncode == 0, done.stdout + done.stderr
    client, runs = runs_of(uri)
    (parent,), children = split(runs)
    found = trials_of(storage)
    assert len(found) == len(children) == trials
    assert {t.state for t in found} <= {TrialState.COMPLETE, TrialState.PRUNED}
    by_trial = {int(c.data.tags["dlnet.trial"]): c for c in children}
    assert sorted(by_trial) == list(range(trials))
    pruned = 0
    for trial in found:
        run = by_trial[trial.number]
        history = client.get_metric_history(run.info.run_id, "val/loss")
        last_step = max(m.step for m in history)
        assert run.info.status == "FINISHED"  # pruning is not a failure
        if trial.state == TrialState.PRUNED:
            pruned += 1
            epoch = int(run.data.tags["dlnet.pruned_epoch"])
            assert run.data.tags["dlnet.pruned"] == "true"
            assert run.data.tags["dlnet.status_reason"].startswith(f"pruned at epoch {epoch}")
            assert epoch == max(trial.intermediate_values) == last_step < epochs
            assert run.data.metrics["epochs_run"] == epoch
        else:
            assert "dlnet.pruned" not in run.data.tags and last_step == epochs
    assert pruned >= 1
    assert f"{trials - pruned} finished, {pruned} pruned, 0 diverged" in done.stdout
    assert parent.data.metrics["sweep/pruned"] == pruned and parent.data.metrics["sweep/diverged"] == 0
    return pruned


def test_hopeless_trials_are_pruned(built_project, tmp_path):
    uri, storage, done = study(built_project, tmp_path, *PRUNING, trials=8, epochs=30)
    check_pruned_study(uri, storage, done, 8, 30)


def test_joblib_launcher_on_a_fresh_store_loses_nothing(built_project, tmp_path):
    uri, storage, done = study(
        built_project, tmp_path, *PRUNING, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", trials=8, epochs=30
    )
    check_pruned_study(uri, storage, done, 8, 30)
    # batches of the launcher's parallelism: Hydra logs each one
    assert (done.stdout + done.stderr).count("is launching 2 jobs") == 4


@pytest.mark.parametrize(
    "override, expected",
    [
        ("optim.lr=interval(1.0,0.01)", "low 1 > high 0.01"),
        ("optim.lr=tag(log,interval(0,1))", "a log scale needs low > 0"),
        ("optim.lrr=interval(0.01,1)", "'optim.lrr' is not a config key: did you mean optim.lr?"),
        ("model.hidden_units=int(interval(0,8))", "model.hidden_units=0 is not allowed"),
    ],
)
def test_bad_search_space_starts_nothing(built_project, tmp_path, override, expected):
    uri, storage, done = study(built_project, tmp_path, override, trials=2)
    assert done.returncode == 2
    assert expected in done.stderr and "Traceback" not in done.stderr
    assert runs_of(uri)[1] == []
    assert not (tmp_path / "optuna.db").exists()  # no study either


def test_make_search_runs_the_preset(built_project, tmp_path):
    uri, storage = sqlite_uri(tmp_path / "mlflow.db"), sqlite_uri(tmp_path / "optuna.db")
    args = (
        f"ARGS=hydra.sweeper.n_trials=2 train.epochs=3 tracking.uri={uri} hydra.sweeper.storage={storage} "
        f"hydra.sweep.dir={tmp_path / 'sweep'}"
    )
    done = run_tool(["make", "-f", str(REPO / "Makefile"), "-o", "setup", "search", args], built_project, timeout=400)
    assert done.returncode == 0, done.stderr
    parents, children = split(runs_of(uri)[1])
    assert len(parents) == 1 and len(children) == 2
    assert parents[0].info.run_name == "study dlnet-original: 2 trials of lr × h × batch × bs"
