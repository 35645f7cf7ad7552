"""The story's warm-up (`core.story.warm_story`) against the way it trained before, in one process.

- reference: what warm_story did until 2026-12: every story run alone (`TrainingRun`), the kernel adapter's
  (alpha, gamma) chosen exhaustively (one eigendecomposition per gamma, `fit_kernel_ridge(exhaustive=True)`), then
  each run scored alone (`story_scores`: the teacher's vectors and neighbours found again per run);
- ours: `warm_story` as it is: the missing runs in the sweep's batches (Model B's runs as one group), the gamma
  screened on a sample of the centres, one `StoryScoring` for every run.

Both into fresh runs folders, the same words, teacher vectors and cheap features (read from the cache: computed
before either is timed). Prints ONE JSON line: reference_seconds, ours_seconds, speedup, runs, and the largest
difference between the two ways' story scores (max_score_diff over the cosines) and whether every kernel adapter
chose the same (alpha, gamma) (same_kernel_settings).

    .venv/bin/python bench/story_warm.py                      # the fake teacher, 3,000 words (a minute or two)
    .venv/bin/python bench/story_warm.py --teacher minilm --words 0   # the real default words: warm MiniLM first
        # (EMBEDDING_LAB_HOME=... python -m core warm --steps minilm-words); tens of minutes on a busy 2-core box
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import story  # noqa: E402
from core.paths import teacher_cache_dir  # noqa: E402
from core.runs.experiment import TrainingRun  # noqa: E402
from core.runs.store import load_run  # noqa: E402
from core.words import generalizing  # noqa: E402
from core.words.cheap import cheap_features  # noqa: E402


def reference(settings, prepared, runs_root: Path, cache_root: Path) -> dict:
    """The story's runs one after the other, the exhaustive gamma choice, each run scored alone."""
    exhaustive = mock.patch.object(generalizing, "choose_kernel_setting", generalizing.choose_kernel_setting_exhaustive)
    ids = {}
    with exhaustive:
        for config in story.story_configs(settings):
            run = TrainingRun(config, prepared, runs_root, device="cpu", cache_root=cache_root, extra={"story": True})
            for _ in run:
                pass
            ids[config] = run.run_id
    for run_id in ids.values():
        story.story_scores(load_run(runs_root, run_id), cache_root, settings)
    return ids


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--teacher", default="hash-64", help="the story's teacher (default: the fake hash-64)")
    parser.add_argument("--cheap", default="", help="what the adapter reads (default: hash-16 / minilm)")
    parser.add_argument("--words", type=int, default=3000, help="how many of the default words (0: all of them)")
    parser.add_argument("--epochs", type=int, default=story.StorySettings.epochs)
    args = parser.parse_args()

    cheap = args.cheap or ("hash-16" if args.teacher.startswith("hash") else "minilm")
    words = list(story.story_vocabulary().words)
    words = words[: args.words] if args.words else words
    label = story.story_vocabulary_label() if not args.words else f"story-bench-{len(words)}"
    settings = story.StorySettings(teacher=args.teacher, cheap=cheap, epochs=args.epochs, vocabulary=label)
    cache_root = teacher_cache_dir()
    prepared = story.prepare_story_data(settings, cache_root, words)
    for config in story.story_configs(settings):  # the cheap features, cached before anything is timed
        if config.model.needs_cheap:
            cheap_features(prepared.items, config.cheap, cache_root, "cpu", kind=config.model.features)

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        ref_ids = reference(settings, prepared, Path(tmp) / "reference", cache_root)
        reference_seconds = time.perf_counter() - start
        start = time.perf_counter()
        ours = story.warm_story(Path(tmp) / "ours", cache_root, settings, prepared=prepared)
        ours_seconds = time.perf_counter() - start

        diff, same_kernel = 0.0, True
        for config, run_id in zip(story.story_configs(settings), ours):
            a = story.story_scores(load_run(Path(tmp) / "ours", run_id), cache_root, settings)
            b = story.story_scores(load_run(Path(tmp) / "reference", ref_ids[config]), cache_root, settings)
            for key in ("training_cosine", "heldout_cosine", "baseline_cosine"):
                if a[key] is not None:
                    diff = max(diff, abs(a[key] - b[key]))
            if config.model.needs_cheap:
                sa = load_run(Path(tmp) / "ours", run_id).student("cpu", cache_root)
                sb = load_run(Path(tmp) / "reference", ref_ids[config]).student("cpu", cache_root)
                same_kernel &= (float(sa.alpha), float(sa.gamma)) == (float(sb.alpha), float(sb.gamma))
    print(
        json.dumps(
            {
                "bench": "story_warm",
                "teacher": settings.teacher,
                "cheap": settings.cheap,
                "words": len(words),
                "runs": len(ours),
                "reference_seconds": round(reference_seconds, 2),
                "ours_seconds": round(ours_seconds, 2),
                "speedup": round(reference_seconds / ours_seconds, 2),
                "max_score_diff": diff,
                "same_kernel_settings": same_kernel,
            }
        )
    )


if __name__ == "__main__":
    main()
