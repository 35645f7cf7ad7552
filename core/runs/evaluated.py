"""A stored run beside its teacher: both vectors of every item (`run_vectors`), the student's evaluation against the
teacher and the average-vector baseline (`evaluate_run`), and that evaluation kept in the run's folder
(`stored_evaluation`; `read_stored_evaluation` reads it and never computes, so a table of every run stays instant).

    vectors = run_vectors(load_run(runs_dir(), run_id), teacher_cache_dir())
    vectors.teacher, vectors.student, vectors.groups     # unit rows in item order; 'training' / 'held-out' / 'poisoned'
    stored_evaluation(stored, teacher_cache_dir())["summary"]   # computed once, then read from evaluation-heldout.json
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.data.dataset import build_dataset
from core.errors import DamagedData
from core.evaluation.evaluate import evaluate
from core.teachers.teacher import shared_vectors
from core.words.students import student_vectors


@dataclass(frozen=True)
class RunVectors:
    """A stored run's items with the teacher's and the student's vectors (unit rows, same order)."""

    items: tuple[str, ...]
    teacher: np.ndarray
    student: np.ndarray
    groups: tuple[str, ...]  # 'training', 'held-out' or 'poisoned' (poisoned training items)

    def index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.items)}


# How many students are rebuilt at once in this process (`run_vectors`): each holds its weights and every item's
# vector (a Model B on 10,002 MPNet words: ~90 MB while it is made). A class whose thirty submissions are scored
# together then waits a moment each instead of holding thirty students at once (issue 30: the server's peak memory
# grew by 900 MB from 2 to 30 students); more at once than cores would not finish sooner.
REBUILT_AT_ONCE = max(1, min(4, os.cpu_count() or 1))
_REBUILDING = threading.BoundedSemaphore(REBUILT_AT_ONCE)


def run_vectors(stored, teacher_cache_dir: Path, device: str = "cpu") -> RunVectors:
    """Everything needed to compare a stored run with its teacher; the teacher is read from cache, one read-only
    copy shared by every run on the same words (`shared_vectors`)."""
    import torch

    items = tuple(stored.items["item"].to_list())
    teacher = shared_vectors(teacher_cache_dir, stored.meta["teacher_id"], items)
    with _REBUILDING, torch.no_grad():
        model = stored.student(device, teacher_cache_dir)
        student = student_vectors(model, device).cpu().numpy()
        del model
    if not np.isfinite(student).all():  # finite weights can still overflow: no chart or score is made of them
        raise DamagedData(
            f"The run {stored.run_id}'s student gives vectors that are not finite numbers; delete the run, or train it again."
        )
    split = stored.items["split"].to_list()
    poisoned = stored.items["poisoned"].to_list()
    groups = tuple("poisoned" if (s == "training" and p) else s for s, p in zip(split, poisoned))
    return RunVectors(items, teacher, student, groups)


def evaluate_run(stored, teacher_cache_dir: Path, scope: str = "heldout", benchmarks=None, device: str = "cpu"):
    """A stored run's student beside its teacher and the average-vector baseline (core.evaluation.evaluate).

    The training split is the stored one (whichever words the run's query selection chose); the targets the
    student saw (poisoned ones included) are rebuilt from the run's config: the poison is seeded, so they come
    out identical.
    """
    vectors = run_vectors(stored, teacher_cache_dir, device)
    c = stored.config
    train_idx = np.flatnonzero(np.asarray(stored.items["split"].to_list()) == "training")
    dataset = build_dataset(
        vectors.items, vectors.teacher, c.p, c.poison, c.seed, c.adversary, c.poison_scope, train_idx=train_idx
    )
    result = evaluate(
        vectors.items,
        vectors.teacher,
        vectors.student,
        dataset.targets,
        dataset.train_idx,
        scope=scope,
        benchmarks=benchmarks,
        student_name=c.model.label,
    )
    result.extra.update(
        {
            "run_id": stored.run_id,
            "model": c.model.value,
            "p": c.p,
            "teacher_queries": int(len(dataset.train_idx)),
            "teacher": stored.meta["teacher_id"],
        }
    )
    return result


EVALUATION_VERSION = 2


def stored_evaluation(stored, teacher_cache_dir: Path, scope: str = "heldout", device: str = "cpu") -> dict:
    """`evaluate_run` on the bundled benchmarks, as JSON, kept in the run folder after the first time
    (a few seconds per run; the quality-per-query chart needs one per run).

    Keys: summary (the CLI's line), table (student / teacher / baseline rows), sections
    (per-section analogy accuracy of student and teacher).
    """
    import json
    import os

    path = Path(stored.folder) / f"evaluation-{scope}.json"
    cached = read_stored_evaluation(stored.folder, scope)
    if cached is not None:
        return cached
    result = evaluate_run(stored, teacher_cache_dir, scope, device=device)
    teacher_sections = {s: (c, n) for s, c, n in result.teacher.analogies.sections()}
    out = {
        "version": EVALUATION_VERSION,
        "summary": result.summary(),
        "table": result.table(),
        "sections": [
            {"section": s, "questions": n, "student_correct": c, "teacher_correct": teacher_sections.get(s, (0, 0))[0]}
            for s, c, n in result.student.analogies.sections()
        ],
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(out))
    os.replace(tmp, path)  # atomic: a reader never sees half a file
    return out


def read_stored_evaluation(folder: Path, scope: str = "heldout") -> dict | None:
    """The scores `stored_evaluation` kept in a run folder, or None when they were never computed (or are
    from an older version of the lab): reads, never computes, so a table of every run stays instant."""
    import json

    try:
        with open(Path(folder) / f"evaluation-{scope}.json", "rb") as f:
            cached = json.loads(f.read(MAX_EVALUATION_BYTES))
    except (OSError, ValueError, RecursionError):  # RecursionError: a file nested deeper than json's stack
        return None
    usable = (
        isinstance(cached, dict)
        and cached.get("version") == EVALUATION_VERSION
        and isinstance(cached.get("summary"), dict)
        and isinstance(cached.get("table"), list)
        and all(isinstance(row, dict) for row in cached["table"])
        and isinstance(cached.get("sections"), list)
    )
    return cached if usable else None


MAX_EVALUATION_BYTES = 4 << 20  # a few KB written by stored_evaluation: more is not one of its files
