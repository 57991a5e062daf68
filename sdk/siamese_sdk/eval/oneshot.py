"""N-way k-shot classification by nearest support embedding (the one-shot protocol of Lake et al. 2015).

An episode draws ``way`` classes, ``shot`` support images and one query image of each; a query is
classified as the class of its nearest support embedding (head distance). Accuracy is reported with a
95 % confidence interval over episodes (normal approximation, ``1.96 * sd / sqrt(episodes)``).

``within_alphabet`` draws all classes of an episode from one group (the parent folder of the class,
``Alphabet`` in ``Alphabet/characterNN``): the harder protocol, since sibling characters look alike.
Its episodes also follow Lake et al. (2015) and Koch et al. (2015) in using **two drawers per episode**
(``paired_drawers``): every support image is the ``i``-th image of its class folder and every query the
``j``-th (Omniglot's ``XXXX_YY.png`` sort by drawer ``YY``), so a query never shares its drawer's hand
with a wrong support. Random-class episodes draw each image independently (Vinyals et al. 2016).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError

DistanceMatrix = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Episode:
    """Indices into an embedding table: ``support (way*shot,)`` with ``support_labels``, ``query (way,)``;
    ``group`` is the alphabet of a within-alphabet episode (``""`` for random classes)."""

    support: np.ndarray
    support_labels: np.ndarray
    query: np.ndarray
    query_labels: np.ndarray
    group: str = ""


@dataclass(frozen=True)
class OneShotResult:
    """Accuracy over episodes (fractions in [0, 1]); ``per_episode`` holds each episode's accuracy."""

    accuracy: float
    ci95: float
    episodes: int
    way: int
    shot: int
    per_episode: np.ndarray = field(repr=False)

    def to_dict(self) -> dict[str, float | int]:
        return {"accuracy": self.accuracy, "ci95": self.ci95, "episodes": self.episodes, "way": self.way, "shot": self.shot}


def group_of(class_name: str) -> str:
    """The group (alphabet) of a class: its parent folder, ``""`` for a top-level class."""
    return class_name.rsplit("/", 1)[0] if "/" in class_name else ""


def sample_episodes(
    labels: np.ndarray,
    classes: list[str],
    way: int,
    shot: int,
    episodes: int,
    within_alphabet: bool,
    seed: int = 0,
    paired_drawers: bool | None = None,
) -> list[Episode]:
    """Draw ``episodes`` episodes from a labelled set (``labels (N,)`` index ``classes``, images of a class
    in file-name order). ``paired_drawers`` (default: ``within_alphabet``) takes the same ``shot + 1``
    image ranks in every class of an episode: ``shot`` support drawers and one query drawer.

    Raises ``InputError`` when no class (or group, with ``within_alphabet``) has enough images/classes.
    """
    if way < 2 or shot < 1 or episodes < 1:
        raise InputError(f"need --way >= 2, --shot >= 1, --episodes >= 1; got {way}, {shot}, {episodes}")
    paired = within_alphabet if paired_drawers is None else paired_drawers
    rng = np.random.default_rng(seed)
    by_class = {c: np.flatnonzero(labels == c) for c in range(len(classes))}
    eligible = [c for c, ix in by_class.items() if ix.size >= shot + 1]
    if within_alphabet:
        groups: dict[str, list[int]] = {}
        for c in eligible:
            groups.setdefault(group_of(classes[c]), []).append(c)
        pool_groups = [g for g, cs in groups.items() if len(cs) >= way]
        pools = [groups[g] for g in pool_groups]
        if not pools or all(g == "" for g in groups):
            raise InputError(
                f"--within-alphabet needs Alphabet/character folders with >= {way} characters of >= {shot + 1} images in one alphabet"
            )
    else:
        pools = [eligible] if len(eligible) >= way else []
        pool_groups = [""]
        if not pools:
            raise InputError(
                f"{way}-way {shot}-shot needs >= {way} classes with >= {shot + 1} images each; found {len(eligible)}"
            )
    out = []
    for _ in range(episodes):
        which = int(rng.integers(len(pools)))
        pool = pools[which]
        chosen = rng.choice(pool, size=way, replace=False)
        sup, sup_l, qry = [], [], []
        ranks = rng.choice(min(by_class[int(c)].size for c in chosen), size=shot + 1, replace=False) if paired else None
        for k, c in enumerate(chosen):
            ix = by_class[int(c)]
            pick = ix[ranks] if ranks is not None else rng.choice(ix, size=shot + 1, replace=False)
            sup.extend(pick[:shot])
            sup_l.extend([k] * shot)
            qry.append(pick[shot])
        out.append(Episode(np.array(sup), np.array(sup_l), np.array(qry), np.arange(way), pool_groups[which]))
    return out


def evaluate(
    embeddings: np.ndarray, episodes: list[Episode], distance_matrix: DistanceMatrix, higher_is_closer: bool = False
) -> OneShotResult:
    """Nearest-support accuracy of ``episodes`` over ``embeddings (N, D)``, scored by ``distance_matrix``."""
    acc = np.empty(len(episodes))
    for e, ep in enumerate(episodes):
        d = distance_matrix(embeddings[ep.query], embeddings[ep.support])  # (way, way*shot)
        best = _closest(d, higher_is_closer)
        acc[e] = np.mean(ep.support_labels[best] == ep.query_labels)
    return _result(acc, way=int(episodes[0].query.size), shot=int(episodes[0].support.size // max(episodes[0].query.size, 1)))


def used_images(episodes: list[Episode]) -> np.ndarray:
    """``(U,) int`` sorted indices of every image some episode uses (support or query)."""
    return np.unique(np.concatenate([np.concatenate([e.support, e.query]) for e in episodes]))


def embed_used(
    embed: Callable[[list[Path]], np.ndarray],
    paths: Sequence[Path],
    dim: int,
    used: np.ndarray,
    chunk: int = 256,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """``(len(paths), dim) float32`` table with the rows ``used`` embedded (``chunk`` images per ``embed`` call), others 0.

    ``progress`` is called with the number of images of each chunk once embedded.
    """
    table = np.zeros((len(paths), dim), dtype=np.float32)
    for i in range(0, used.size, chunk):
        ix = used[i : i + chunk]
        table[ix] = embed([paths[j] for j in ix])
        if progress is not None:
            progress(ix.size)
    return table


def per_group(result: OneShotResult, episodes: list[Episode]) -> dict[str, tuple[float, int]]:
    """Accuracy and episode count per ``group`` (alphabet) of within-alphabet ``episodes``, by name."""
    names = np.array([e.group for e in episodes])
    return {g: (float(result.per_episode[names == g].mean()), int((names == g).sum())) for g in sorted(set(names.tolist()))}


def _closest(d: np.ndarray, higher_is_closer: bool) -> np.ndarray:
    """``(Q,)`` column of the closest score in each row of ``d (Q, S)``."""
    return np.argmax(d, axis=1) if higher_is_closer else np.argmin(d, axis=1)


def _result(acc: np.ndarray, way: int, shot: int) -> OneShotResult:
    sd = float(acc.std(ddof=1)) if acc.size > 1 else 0.0
    return OneShotResult(float(acc.mean()), 1.96 * sd / math.sqrt(acc.size), int(acc.size), way, shot, acc)


@dataclass(frozen=True)
class LakeRun:
    """One of Lake et al.'s published 20-way runs: ``training/classXX.png`` supports, ``test/itemXX.png`` queries."""

    name: str
    supports: list[Path]
    queries: list[Path]
    answers: list[int]  # index into supports of each query's true class


def read_lake_runs(root: str | Path) -> list[LakeRun]:
    """Parse ``root/runNN/{training,test}/*.png`` and ``runNN/class_labels.txt`` (``test/itemXX training/classYY`` per line)."""
    root = Path(root)
    runs = sorted(p for p in root.glob("run*") if p.is_dir())
    if not runs:
        raise InputError(f"no runNN folders under {root}; pass the folder that holds Lake's one-shot runs (run01 ... run20)")
    out = []
    for run in runs:
        labels = run / "class_labels.txt"
        if not labels.is_file():
            raise InputError(f"{labels} missing; each run needs class_labels.txt")
        supports = sorted((run / "training").glob("*.png"))
        index = {p.name: i for i, p in enumerate(supports)}
        queries, answers = [], []
        for n, line in enumerate(labels.read_text().splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2:
                raise InputError(f"{labels}:{n}: expected 'runNN/test/itemXX.png runNN/training/classYY.png', got {line!r}")
            query, support = (root / parts[0]), Path(parts[1]).name
            if not query.is_file():
                query = run / "test" / Path(parts[0]).name
            if support not in index or not query.is_file():
                raise InputError(f"{labels}:{n}: {parts[0]} or {parts[1]} not found in {run}")
            queries.append(query)
            answers.append(index[support])
        out.append(LakeRun(run.name, supports, queries, answers))
    return out


def evaluate_lake_runs(
    runs: list[LakeRun],
    embed: Callable[[list[Path]], np.ndarray],
    distance_matrix: DistanceMatrix,
    higher_is_closer: bool = False,
) -> tuple[OneShotResult, dict[str, float]]:
    """Accuracy per run and over all runs (CI over runs)."""
    per_run = {}
    for run in runs:
        d = distance_matrix(embed(run.queries), embed(run.supports))
        best = _closest(d, higher_is_closer)
        per_run[run.name] = float(np.mean(best == np.asarray(run.answers)))
    acc = np.array(list(per_run.values()))
    way = len(runs[0].supports)
    return _result(acc, way=way, shot=1), per_run
