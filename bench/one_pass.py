"""One forward pass vs one pass per view (core/teachers/one_pass.py), on the real bundled models, in one process.

For the default words: the sentence vectors and the layer features (`SentenceTransformerTeacher.embed` then
`LayerFeatures.embed`, as the warm-up computed them before) vs `encode_views(layers=True)`. For the bundled
sentences: the token outputs and the sentence vectors (`text_features` then `embed`) vs
`encode_views(tokens=True)`. The two ways alternate, `--repeats` times, so a busy machine slows both alike;
the figure is each way's best time and `speedup` = per-view / one pass. Prints one JSON line.

    .venv/bin/python bench/one_pass.py [--model minilm|mpnet] [--words 2000] [--sentences 500] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import time

from core.data.sentences import default_sentences
from core.sentences.features import text_features
from core.teachers.one_pass import encode_views
from core.teachers.teacher import LayerFeatures, load_teacher
from core.warm import default_items


def timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm", choices=("minilm", "mpnet"))
    parser.add_argument("--words", type=int, default=2000)
    parser.add_argument("--sentences", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    teacher = load_teacher(args.model, "cpu")
    words = list(default_items())[: args.words]
    texts = list(default_sentences().texts)[: args.sentences]
    teacher.embed(words[:64])  # the first batch pays for warming up the library
    out: dict = {"benchmark": "one_pass", "model": args.model, "words": len(words), "sentences": len(texts)}
    per_view, one = [], []
    for _ in range(args.repeats):  # alternating, so load on the machine hits both ways alike
        per_view.append(timed(lambda: (teacher.embed(words), LayerFeatures(teacher).embed(words))))
        one.append(timed(lambda: encode_views(teacher, words, layers=True)))
    out["words_per_view_s"], out["words_one_pass_s"] = round(min(per_view), 2), round(min(one), 2)
    per_view, one = [], []
    for _ in range(args.repeats):
        per_view.append(timed(lambda: (text_features(teacher, texts), teacher.embed(texts))))
        one.append(timed(lambda: encode_views(teacher, texts, layers=False, tokens=True)))
    out["sentences_per_view_s"], out["sentences_one_pass_s"] = round(min(per_view), 2), round(min(one), 2)
    out["words_speedup"] = round(out["words_per_view_s"] / max(out["words_one_pass_s"], 1e-3), 2)
    out["sentences_speedup"] = round(out["sentences_per_view_s"] / max(out["sentences_one_pass_s"], 1e-3), 2)
    out["load_average_1min"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
