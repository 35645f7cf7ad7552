"""Does the owner catch the imitator? Students trained on marked answers and control students trained on clean
ones, over p x student kind x watermark x strength x seeds; each suspect judged by the verifier against its
controls.

The shape is the Poisoning lab's (a wrapper on the teacher's answers, a grid, a verdict), but the students are
trained here in memory, not stored as runs: a grid is hundreds of students whose only product is one number each.

- Seed s draws the split (the paper's seeded draw of p, `core.data.dataset.split_indices`), the student's weights
  and the owner's key (key + s): power is averaged over keys as well as students.
- Controls: one clean student per (kind, p, seed), shared by every watermark and strength; for the suspect of
  seed s they are all judged under key + s, and the suspect is flagged when it lies above their calibrated line
  (`core.watermark.verify.Calibration`). False alarms: each control against the others (leave one out), under
  every seed's key.
- The region test probes the words the suspect never asked about (all words when it asked about every one);
  the trigger test probes every trigger and benign word, as EmbMarker's verifier does.
- `removal` > 0: every marked suspect is also trained on answers the imitator cleaned first, once per attack in
  `attacks` (`core.watermark.removal`: 'residual' projects out what the cheap model cannot explain, role
  'removed'; 'cse' is WARDEN's cluster-select-eliminate, role 'cse'). They are judged against controls put through
  the same attack (roles 'control-removed' / 'control-cse': the clean answers of the same split, the attack's
  directions found on them): an attack moves a clean student's statistic too, and a line drawn from unattacked
  controls flagged clean attacked students (up to 7 of 25 for Model B before this was fixed).

    result = run_grid(GridSpec(ps=(0.1, 1.0), kinds=("ridge",)), materials)
    summarize(result.rows)      # core.watermark.power: one row per (kind, p, watermark, strength): power, false alarms, costs
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from core.config import StudentKind, TrainConfig
from core.data.dataset import Dataset, split_indices
from core.watermark.marks import Watermark, WatermarkConfig, WatermarkKind, utility_cost
from core.watermark.removal import ATTACKS, attack_directions, project_out
from core.watermark.verify import LEVEL, inspect
from core.words.generalizing import MAX_CENTRES
from core.words.students import StudentConfig, build_student
from core.words.train import group_key, max_group_size, train_group, train_student

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Materials:
    """What a grid is computed from, loaded at the edge (a page, the CLI, a bench): the words, the teacher's
    clean answers, the cheap model's vectors (adapters read them; the removal attack needs them) and the words'
    frequencies (trigger words are of moderate frequency)."""

    items: tuple[str, ...]
    clean: np.ndarray
    teacher_id: str
    features: np.ndarray | None = None  # the cheap model's sentence vectors (ridge, mlp; the removal attack)
    layers: np.ndarray | None = None  # its layer features (the kernel adapter)
    frequencies: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.clean.shape[0] != len(self.items):
            raise ValueError(f"One teacher answer per word is needed, got {self.clean.shape[0]} for {len(self.items)}.")
        for name in ("features", "layers", "frequencies"):
            value = getattr(self, name)
            if value is not None and len(value) != len(self.items):
                raise ValueError(f"One {name} row per word is needed, got {len(value)} for {len(self.items)}.")


@dataclass(frozen=True)
class GridSpec:
    ps: tuple[float, ...] = (0.01, 0.1, 0.3, 1.0)
    kinds: tuple[str, ...] = ("ridge", "B")
    watermarks: tuple[str, ...] = ("trigger", "region")
    strengths: tuple[float, ...] = (0.3,)
    seeds: int = 5
    epochs: int = 20  # students trained by gradient steps (Model B, subword, MLP)
    lr: float = 1e-3  # their Adam step (the paper's)
    batch_size: int = 256  # their batch (the lab's default)
    level: float = LEVEL
    key: int = 0  # seed s uses key + s
    share: float = 0.05  # the share of words a watermark marks
    removal: int = 0  # directions the imitator projects out (0: no removal attack)
    attacks: tuple[str, ...] = ATTACKS  # which removal attacks run when removal > 0 ('residual', 'cse')

    def __post_init__(self) -> None:
        if not self.ps or any(not 0 < p <= 1 for p in self.ps):
            raise ValueError(f"Every p must be above 0 and at most 1, got {self.ps}.")
        for kind in self.kinds:
            StudentKind.parse(kind)
        object.__setattr__(self, "kinds", tuple(StudentKind.parse(k).value for k in self.kinds))
        for name in self.watermarks:
            if WatermarkKind(name) is WatermarkKind.OFF:
                raise ValueError("A grid compares watermarks: 'off' is what the controls are.")
        if self.seeds < 4:
            raise ValueError(f"A grid needs at least 4 seeds (each control is judged by the others), got {self.seeds}.")
        for s in self.strengths:
            WatermarkConfig("trigger" if "trigger" in self.watermarks else "region", s)
        object.__setattr__(self, "attacks", tuple(dict.fromkeys(str(a).strip().lower() for a in self.attacks)))
        unknown = [a for a in self.attacks if a not in ATTACKS]
        if unknown or (self.removal and not self.attacks):
            raise ValueError(
                f"The removal attacks must be among {', '.join(ATTACKS)}, got {', '.join(unknown) or 'none'}."
            )

    def mark_config(self, watermark: str, strength: float, seed: int) -> WatermarkConfig:
        return WatermarkConfig(watermark, strength, self.key + seed, self.share)

    @property
    def students(self) -> int:
        """How many students the grid trains."""
        attacks = len(self.attacks) if self.removal else 0
        per_seed = 1 + attacks + len(self.watermarks) * len(self.strengths) * (1 + attacks)
        return len(self.kinds) * len(self.ps) * self.seeds * per_seed


@dataclass
class Suspect:
    """A trained student's vectors of every word, and which words it asked about."""

    vectors: np.ndarray
    train_idx: np.ndarray
    heldout_idx: np.ndarray
    items: tuple[str, ...]
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    def embed(self, words: Sequence[str]) -> np.ndarray:
        """All the verifier sees: words -> vectors."""
        if not self._index:
            self._index = {w: i for i, w in enumerate(self.items)}
        return self.vectors[[self._index[w] for w in words]]

    def heldout_cosine(self, clean: np.ndarray) -> float | None:
        if not len(self.heldout_idx):
            return None
        return float((self.vectors[self.heldout_idx] * clean[self.heldout_idx]).sum(1).mean())

    def never_asked(self) -> np.ndarray:
        """The words the region test probes: those never asked about, or every word when all were asked."""
        probe = np.ones(len(self.items), dtype=bool)
        if len(self.heldout_idx):
            probe[self.train_idx] = False
        return probe


def _setup(
    kind: StudentKind, materials: Materials, answers, p: float, seed: int, epochs: int, lr: float, batch_size: int
):
    """(student, dataset, config) of one suspect: a student of `kind` built for the seeded fraction p of the words."""
    n = len(materials.items)
    train_idx, heldout_idx = split_indices(n, p, seed)
    features = None
    if kind.needs_cheap:
        features = materials.layers if kind.features == "layers" else materials.features
        if features is None:
            raise ValueError(f"A {kind.label} student needs the cheap model's {kind.features} features.")
    data = Dataset(
        materials.items, materials.clean, np.asarray(answers, np.float32), np.zeros(n, bool), train_idx, heldout_idx
    )
    config = TrainConfig(
        teacher=materials.teacher_id, model=kind, p=p, epochs=epochs, seed=seed, lr=lr, batch_size=batch_size
    )
    student = build_student(
        StudentConfig(
            kind,
            n,
            data.dim,
            in_dim=0 if features is None else int(features.shape[1]),
            centres=min(len(train_idx), MAX_CENTRES) if kind is StudentKind.KERNEL else 0,
        ),
        seed=seed,
        items=materials.items,
        features=features,
    )
    return student, data, config


def _suspect(student, data: Dataset, materials: Materials) -> Suspect:
    return Suspect(student.predict_all().cpu().numpy(), data.train_idx, data.heldout_idx, materials.items)


def train_suspect(
    kind: str,
    materials: Materials,
    answers: np.ndarray,
    p: float,
    seed: int,
    epochs: int = 20,
    device: str = "cpu",
    lr: float = 1e-3,
    batch_size: int = 256,
) -> Suspect:
    """A student of `kind` trained on `answers` (the API's, marked or clean) for the seeded fraction p of the words,
    through the engine's own loop (core.words.train.train_student)."""
    student, data, config = _setup(StudentKind.parse(kind), materials, answers, p, seed, epochs, lr, batch_size)
    for _ in train_student(student, data, config, device=device, track_means=False):
        pass
    return _suspect(student, data, materials)


def group_size(kind: str, materials: Materials, epochs: int = 20, lr: float = 1e-3, batch_size: int = 256) -> int:
    """How many suspects of `kind` train together (`train_suspects`): a table student (Model A / B) steps with
    others as a sweep's runs do (`core.words.train.train_group`); every other kind trains alone (1)."""
    n, dim = len(materials.items), int(materials.clean.shape[1])
    config = TrainConfig(teacher=materials.teacher_id, model=kind, epochs=epochs, lr=lr, batch_size=batch_size)
    return 1 if group_key(config, n, dim) is None else max_group_size(n, dim)


def train_suspects(
    kind: str,
    materials: Materials,
    jobs: Sequence[tuple[np.ndarray, float, int]],
    epochs: int = 20,
    device: str = "cpu",
    lr: float = 1e-3,
    batch_size: int = 256,
    should_stop: Callable[[], bool] | None = None,
) -> list[Suspect]:
    """Students of one `kind`, one per (answers, p, seed) in `jobs`: table students as one group (each as if it
    trained alone: the sweep's grouped path, tested against single runs), any other kind one after the other."""
    kind = StudentKind.parse(kind)
    if len(jobs) == 1 or group_size(kind.value, materials, epochs, lr, batch_size) == 1:
        return [train_suspect(kind, materials, a, p, s, epochs, device, lr, batch_size) for a, p, s in jobs]
    setups = [_setup(kind, materials, a, p, s, epochs, lr, batch_size) for a, p, s in jobs]
    students, datasets, configs = (list(part) for part in zip(*setups))
    for _ in train_group(students, datasets, configs, device, should_stop, track_means=False):
        pass
    return [_suspect(student, data, materials) for student, data in zip(students, datasets)]


ROLES = {"residual": "removed", "cse": "cse"}  # a removal attack's suspects' role in the rows
# The suspects' role -> their controls' role: the clean students put through the same treatment.
CONTROLS = {"marked": "control", **{role: f"control-{role}" for role in ROLES.values()}}

ROW_SCHEMA = {
    "kind": pl.Utf8,
    "p": pl.Float64,
    "watermark": pl.Utf8,
    "strength": pl.Float64,
    "seed": pl.Int64,  # the suspect's seed, or the control's
    "key_seed": pl.Int64,  # whose key judged it (a control is judged under every seed's key)
    "role": pl.Utf8,  # 'marked', 'removed' / 'cse' (marked, then that removal attack: ROLES), or their controls:
    # 'control', 'control-removed' / 'control-cse' (clean answers, then the same attack: CONTROLS)
    "statistic": pl.Float64,
    "pvalue": pl.Float64,
    "raw_flag": pl.Boolean,
    "heldout_cosine": pl.Float64,
}


COST_SCHEMA = {
    "watermark": pl.Utf8,
    "strength": pl.Float64,
    "mean_cosine": pl.Float64,
    "overlap_at_10": pl.Float64,
    "marked_share": pl.Float64,
}


@dataclass(frozen=True)
class GridResult:
    rows: pl.DataFrame  # ROW_SCHEMA
    costs: pl.DataFrame  # per (watermark, strength): the honest user's cost (key of seed 0)
    level: float
    seconds: float


def run_grid(
    spec: GridSpec,
    materials: Materials,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    device: str = "cpu",
) -> GridResult:
    """Train and judge the whole grid (see the module's docstring). `progress(done, total)` counts students;
    `should_stop()` is asked between students and groups (what is done so far is returned). Table students
    (Model A / B) train in groups (`train_suspects`), as a sweep's runs do."""
    start = time.perf_counter()
    rows: list[dict] = []
    done, total = 0, spec.students
    secrets = {  # the owner's secrets under each seed's key (they do not depend on the strength)
        (w, s): Watermark.build(spec.mark_config(w, 0.0, s), materials.items, materials.clean, materials.frequencies)
        for w in spec.watermarks
        for s in range(spec.seeds)
    }
    costs = [
        {
            "watermark": w,
            "strength": strength,
            **vars(utility_cost(materials.clean, secrets[w, 0].at_strength(strength).apply(materials.clean))),
        }
        for w in spec.watermarks
        for strength in spec.strengths
    ]

    def row(kind, p, w, strength, seed, key_seed, role, suspect: Suspect) -> dict:
        mark = secrets[w, key_seed]
        probe = suspect.never_asked() if w == "region" else None
        found = inspect(suspect.embed, mark, materials.items, probe)
        return {
            "kind": kind,
            "p": p,
            "watermark": w,
            "strength": strength,
            "seed": seed,
            "key_seed": key_seed,
            "role": role,
            "statistic": found.statistic,
            "pvalue": found.pvalue,
            "raw_flag": found.raw_flag,
            "heldout_cosine": suspect.heldout_cosine(materials.clean),
        }

    attacked: dict[tuple, np.ndarray] = {}  # the directions each attack removes: the same for every student kind

    def removed(attack, p, seed, w, strength, marked, train_idx) -> np.ndarray:
        key = (attack, p, seed, w, strength)
        if key not in attacked:
            attacked[key] = attack_directions(
                attack, marked[train_idx], materials.features[train_idx], spec.removal, seed
            )
        return attacked[key]

    if spec.removal and materials.features is None:
        raise ValueError("The removal attack needs the cheap model's vectors.")

    def students():
        """(kind, p, seed, watermark, strength, role, answers) in training order, controls first."""
        for kind in spec.kinds:
            for p in spec.ps:
                for seed in range(spec.seeds):
                    train_idx, _ = split_indices(len(materials.items), p, seed)

                    def after_attack(attack, answers, w=None, strength=None, p=p, seed=seed, train_idx=train_idx):
                        cleaned = answers.copy()
                        cleaned[train_idx] = project_out(
                            answers[train_idx], removed(attack, p, seed, w, strength, answers, train_idx)
                        )
                        return cleaned

                    yield kind, p, seed, None, None, "control", materials.clean
                    for attack in spec.attacks if spec.removal else ():  # the attacked suspects' controls
                        yield kind, p, seed, None, None, CONTROLS[ROLES[attack]], after_attack(attack, materials.clean)
                    for w in spec.watermarks:
                        for strength in spec.strengths:
                            marked = secrets[w, seed].at_strength(strength).apply(materials.clean)
                            yield kind, p, seed, w, strength, "marked", marked
                            for attack in spec.attacks if spec.removal else ():
                                yield (
                                    kind,
                                    p,
                                    seed,
                                    w,
                                    strength,
                                    ROLES[attack],
                                    after_attack(attack, marked, w, strength),
                                )

    def judge(kind, p, seed, w, strength, role, suspect: Suspect) -> None:
        nonlocal done
        if role in CONTROLS.values():  # judged under every seed's key, for every watermark
            rows.extend(
                row(kind, p, mark, None, seed, k, role, suspect) for mark in spec.watermarks for k in range(spec.seeds)
            )
        else:
            rows.append(row(kind, p, w, strength, seed, seed, role, suspect))
        done += 1
        if progress:
            progress(done, total)

    sizes = {kind: group_size(kind, materials, spec.epochs, spec.lr, spec.batch_size) for kind in spec.kinds}
    pending: list[tuple] = []

    def flush() -> None:
        """Train the pending students of one kind (together where they can) and judge them."""
        if not pending or (should_stop and should_stop()):
            return
        trained = train_suspects(
            pending[0][0],
            materials,
            [(answers, p, seed) for _, p, seed, _, _, _, answers in pending],
            spec.epochs,
            device,
            spec.lr,
            spec.batch_size,
            should_stop,
        )
        if not (should_stop and should_stop()):  # a group stopped part-way is not judged
            for (kind, p, seed, w, strength, role, _), suspect in zip(pending, trained):
                judge(kind, p, seed, w, strength, role, suspect)
        pending.clear()

    for student in students():
        if should_stop and should_stop():
            break
        if pending and pending[0][0] != student[0]:
            flush()
        pending.append(student)
        if len(pending) >= sizes[student[0]]:
            flush()
    flush()
    return GridResult(
        pl.DataFrame(rows, schema=ROW_SCHEMA),
        pl.DataFrame(costs, schema=COST_SCHEMA),
        spec.level,
        time.perf_counter() - start,
    )
