"""Poison detection and the trimmed defence on real teachers (issue 6's acceptance scenario).

Teacher all-MiniLM-L6-v2, the ridge adapter from the other bundled model (all-mpnet-base-v2),
p = 0.3 of the default 10,000 words, 10 % of the whole vocabulary poisoned before the split (the
paper's protocol), for each adversary. Reports the clean run's held-out cosine, the plain
(undefended) fit's — the reference — and the trimmed fit's, with detection precision / recall of
the leave-one-out outlier rule, and seconds. Prints ONE JSON line.

    .venv/bin/python bench/poison_detection.py [--p 0.3] [--rate 0.1]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from core.corpus import default_vocabulary  # noqa: E402
from core.dataset import split_indices  # noqa: E402
from core.generalizing import fit_ridge  # noqa: E402
from core.paths import teacher_cache_dir  # noqa: E402
from core.poison import Adversary, detect, poison_answers, ridge_loo_losses, trimmed_ridge  # noqa: E402
from core.teacher import CachedTeacher, load_teacher  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--p", type=float, default=0.3)
    parser.add_argument("--rate", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    words = default_vocabulary().words
    teacher = CachedTeacher(load_teacher("minilm", "cpu"), teacher_cache_dir()).embed(words)
    cheap = CachedTeacher(load_teacher("mpnet", "cpu"), teacher_cache_dir()).embed(words)
    train, held = split_indices(len(words), args.p, args.seed)
    x = torch.tensor(cheap[train])

    def heldout_cosine(weight, bias) -> float:
        pred = cheap[held] @ weight.numpy().T + bias.numpy()
        pred /= np.linalg.norm(pred, axis=1, keepdims=True)
        return float((pred * teacher[held]).sum(1).mean())

    clean_cos = heldout_cosine(*fit_ridge(x, torch.tensor(teacher[train]))[:2])
    rows = []
    for adversary in Adversary:
        targets, mask = poison_answers(teacher, args.rate, args.seed, adversary)
        y = torch.tensor(targets[train])
        start = time.perf_counter()
        weight, bias, alpha = fit_ridge(x, y)
        plain_seconds = time.perf_counter() - start
        plain = heldout_cosine(weight, bias)
        found = detect(ridge_loo_losses(x, y, alpha).numpy(), mask[train])
        start = time.perf_counter()
        w2, b2, _, keep = trimmed_ridge(x, y)
        trimmed_seconds = time.perf_counter() - start
        trimmed = heldout_cosine(w2, b2)
        rows.append({
            "adversary": adversary.value, "poisoned_in_train": int(mask[train].sum()),
            "plain_heldout_cosine": round(plain, 4), "trimmed_heldout_cosine": round(trimmed, 4),
            "plain_pct_of_clean": round(100 * plain / clean_cos, 1), "trimmed_pct_of_clean": round(100 * trimmed / clean_cos, 1),
            "detection_precision": round(found.precision or 0.0, 4), "detection_recall": round(found.recall or 0.0, 4),
            "dropped": int((~keep).sum().item()), "plain_seconds": round(plain_seconds, 2), "trimmed_seconds": round(trimmed_seconds, 2),
        })
    print(json.dumps({"benchmark": "poison_detection", "teacher": "all-MiniLM-L6-v2", "cheap": "all-mpnet-base-v2", "student": "ridge adapter",
                      "p": args.p, "rate": args.rate, "train_size": len(train), "clean_heldout_cosine": round(clean_cos, 4), "rows": rows}))


if __name__ == "__main__":
    main()
