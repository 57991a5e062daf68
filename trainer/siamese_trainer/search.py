"""``--search TRIALS``: spend part of the time budget on a small search over the recipe's own choices.

Optuna (the ``tune`` extra) samples ``TRIALS`` variants of the recipe's picks: learning rate, capacity
(``--width``), input size (the picked size scaled, aspect kept) and the NT-Xent temperature; a field the user
typed is not searched. Each trial trains a short schedule on the training classes and scores the validation
classes (ROC AUC over all their pairs). With fewer than ``MIN_VAL_CLASSES`` validation classes one split says
little, so a trial is cross-validated over identities: ``FOLDS`` re-splits of the classes (split seeds
``seed + 1 ..``), the AUCs averaged. A trial reports its AUC after every epoch of every fold to a
``MedianPruner``, which stops trials that fall below the median of earlier ones at the same step.

The search gets ``SHARE`` of the budget, divided evenly between trials and folds (each sized by
``budget.plan`` at the probe's speed); the final run gets what is left. The winner's values replace the
picks, and the trials (values, AUC or pruned, epochs) go into ``config.recipe["search"]``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any

from .advice import MIN_VAL_CLASSES

#: share of the time budget the search may spend
SHARE = 0.5
#: identity re-splits a trial is scored on when the validation classes are fewer than ``MIN_VAL_CLASSES``
FOLDS = 3
#: epochs of a trial's schedule (the pruner's steps per fold)
TRIAL_EPOCHS = 3
#: what is searched (a field the user typed is left out): lr log-uniform, width and temperature categorical,
#: size as a factor on the picked size
SPACE = {"lr": (5e-4, 5e-3), "width": (32, 64, 96), "size_factor": (0.75, 1.0, 1.25), "temperature": (0.05, 0.1, 0.2)}


def _scaled(size: Any, factor: float) -> Any:
    h, w = (size, size) if isinstance(size, int) else size
    h, w = (max(16, int(v * factor / 8 + 0.5) * 8) for v in (h, w))  # multiples of 8, halves up
    return h if h == w else (h, w)


def trial_fields(fields: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """``fields`` with a trial's ``params`` applied (``size_factor`` scales ``size``)."""
    out = {**fields, **{k: v for k, v in params.items() if k != "size_factor"}}
    if "size_factor" in params:
        out["size"] = _scaled(fields["size"], params["size_factor"])
    return out


def run(
    fields: dict[str, Any],
    given: set[str],
    trials: int,
    minutes: float,
    batches: int,
    val_classes: int,
    log: Callable[[str], None] = print,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(winner's field values, record)`` of a search of ``trials`` trials sized to about ``minutes`` in all.

    ``fields``: the run's ``TrainConfig`` keywords with the recipe's picks; ``batches``: the batches one
    trial-fold may train (from ``budget.plan``); ``val_classes``: validation classes per split.
    """
    from siamese_sdk.errors import require_extra

    require_extra("optuna", "tune")
    import optuna

    from .config import TrainConfig
    from .loop import fit
    from .tasks.image_folder import ImageFolderTask

    folds = FOLDS if val_classes < MIN_VAL_CLASSES else 1
    space = {k: v for k, v in SPACE.items() if k.replace("size_factor", "size") not in given}
    if fields.get("loss") != "ntxent":
        space.pop("temperature", None)
    if fields.get("arch", "convnet4") != "convnet4":
        space.pop("width", None)
    epochs = TRIAL_EPOCHS
    per_epoch = max(1, batches // epochs)
    seed = int(fields.get("seed", 0))
    rows: list[dict[str, Any]] = []

    def objective(trial: optuna.Trial) -> float:
        params: dict[str, Any] = {}
        for name, choices in space.items():
            if name == "lr":
                params[name] = trial.suggest_float(name, *choices, log=True)
            else:
                params[name] = trial.suggest_categorical(name, list(choices))
        aucs: list[float] = []
        for fold in range(folds):
            done: list[float] = []

            def report(row: dict[str, float], fold: int = fold, done: list[float] = done) -> bool:
                done.append(float(row["auc"]))
                trial.report(float(sum(aucs) + done[-1]) / (len(aucs) + 1), fold * epochs + len(done) - 1)
                return trial.should_prune()

            with tempfile.TemporaryDirectory(prefix="siamese-search-") as tmp:
                over = dict(out=tmp, epochs=epochs, batches_per_epoch=per_epoch, select="last", patience=None,
                            split_seed=seed + 1 + fold if folds > 1 else fields.get("split_seed"), recipe=None,
                            time_budget=None, search=0, init=fields.get("init"))  # fmt: skip
                task = ImageFolderTask.start(TrainConfig(**{**trial_fields(fields, params), **over}))
                fit(task, None, lambda _: None, False, report)
            aucs.append(done[-1])
            if len(done) < epochs:  # pruned
                rows.append({**params, "auc": None, "pruned_at": f"fold {fold + 1}, epoch {len(done)}"})
                log(f"search: trial {trial.number + 1}/{trials} {_show(params)}: pruned (val AUC {done[-1]:.4f})")
                raise optuna.TrialPruned()
        auc = sum(aucs) / len(aucs)
        rows.append({**params, "auc": round(auc, 4)})
        log(f"search: trial {trial.number + 1}/{trials} {_show(params)}: val AUC {auc:.4f}" + (f" ({folds} folds)" if folds > 1 else ""))
        return auc

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1),
    )
    study.optimize(objective, n_trials=trials)  # no wall-clock timeout: the same trials on a busy machine
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        return {}, {"minutes": round(minutes, 2), "trials": rows, "winner": None}
    best = study.best_params
    keep = {k for k in best if k != "size_factor"} | ({"size"} if "size_factor" in best else set())
    winner = {k: v for k, v in trial_fields(fields, best).items() if k in keep}
    record = {"minutes": round(minutes, 2), "trials": rows, "folds": folds, "epochs": epochs, "batches_per_epoch": per_epoch, "winner": study.best_params,
              "auc": round(study.best_value, 4)}  # fmt: skip
    log(f"search: winner {_show(study.best_params)}: val AUC {study.best_value:.4f} ({len(done)} of {len(study.trials)} trials completed)")
    return winner, record


def _show(params: dict[str, Any]) -> str:
    return " ".join(f"{k} {v:.2g}" if isinstance(v, float) and k == "lr" else f"{k} {v}" for k, v in params.items())
