"""Hostile input: every case gets a clear sentence (never a traceback) and loses nothing.

Each row names the input, what it is fed to, and what must happen. Engine-level on purpose: every
widget and upload of the dashboard goes through these same functions (the AppTests check that the
pages show the sentences)."""

from __future__ import annotations

import json
import math
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from core.charts import safe_csv
from core.config import TrainConfig
from core.data.corpus import VocabularyError, parse_vocabulary
from core.data.dataset import build_dataset
from core.data.sentences import sentences_from_paste, sentences_from_upload
from core.errors import DamagedData
from core.evaluation.projection import Method, ProjectionCache, project
from core.runs.store import RunNotFound, check_run_id, list_runs, load_run, save_run
from core.teachers.teacher import CachedTeacher, HashTeacher

ROOT = Path(__file__).resolve().parents[2]


def sentence(message: str) -> None:
    """A clear sentence: one line of words, no traceback, no Python repr of an exception."""
    assert message and "Traceback" not in message and "\n" not in message.strip(), message
    assert message.rstrip().endswith((".", ")", "!", "?")), message  # a finished sentence, not an exception's repr


# ---- uploads: word lists ----------------------------------------------------------------------------

BAD_VOCABULARIES = [
    ("empty", "words.txt", b"", "usable item"),
    ("only blank lines", "words.txt", b"\n\n   \n", "usable item"),
    ("binary", "words.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary"),
    ("non-UTF-8", "words.txt", "café\nnaïve".encode("latin-1"), "not UTF-8"),
    ("over 20 MB", "words.txt", b"word\n" * (4_300_000), "the limit is"),
    ("not a text file", "words.exe", b"MZ\x90\x00", "not a .txt or .csv"),
    ("one word", "words.txt", b"hello\n", "at least 2"),
    ("CSV without the named column", "words.csv", b"a,b\n1,2\n", "column"),
]


@pytest.mark.parametrize("case,name,data,message", BAD_VOCABULARIES, ids=[c[0] for c in BAD_VOCABULARIES])
def test_bad_word_lists_get_a_sentence(case, name, data, message):
    with pytest.raises(VocabularyError, match=message) as err:
        parse_vocabulary(data, name, column="word" if name.endswith(".csv") else None)
    sentence(str(err.value))


def test_a_million_lines_are_capped_and_counted():
    data = "\n".join(f"w{i}" for i in range(1_000_000)).encode()
    vocab = parse_vocabulary(data, "million.txt")
    assert len(vocab.words) == 200_000  # the cap: one teacher query per item
    assert vocab.dropped["over the size limit"].count == 800_000
    assert vocab.summary().startswith("Kept 200,000 words; dropped 800,000 (over the size limit: 800,000")


def test_html_formulas_emoji_and_other_scripts_stay_text():
    words = [
        "<script>alert(1)</script>",
        "<b>bold</b>",
        '=HYPERLINK("http://x")',
        "+1+1",
        "@SUM(A1)",
        "😀",
        "日本語",
        "naïve",
        "Ελληνικά",
        "עברית",
    ]
    vocab = parse_vocabulary("\n".join(words).encode(), "odd.txt")
    assert list(vocab.words) == words  # kept verbatim; the page shows them as text, never as HTML
    csv = safe_csv(pl.DataFrame({"word": list(vocab.words)}))
    assert (
        "'=HYPERLINK" in csv and "'+1+1" in csv and "'@SUM" in csv and "\n=" not in csv
    )  # a spreadsheet will not run them


def test_duplicates_and_control_characters_are_dropped_and_counted():
    vocab = parse_vocabulary("cat\ncat\ndog\nbad\u0007word\nzero\u200bwidth\nok\n".encode(), "dups.txt")
    assert list(vocab.words) == ["cat", "dog", "ok"]
    assert (vocab.dropped["duplicate"].count, vocab.dropped["duplicate"].examples) == (1, ["cat"])
    assert vocab.dropped["control or invisible characters"].count == 2
    assert "duplicate: 1, e.g. 'cat'" in vocab.summary()


# ---- uploads: sentences --------------------------------------------------------------------------

BAD_TEXTS = [
    ("empty", "t.txt", b"", "No usable text"),
    ("binary", "t.txt", b"\x00\xff\x00", "binary"),
    ("non-UTF-8", "t.txt", "déjà vu".encode("cp1252"), "not UTF-8"),
    ("huge", "t.txt", b"x\n" * (6 * 2**20), "limit is"),
]


@pytest.mark.parametrize("case,name,data,message", BAD_TEXTS, ids=[c[0] for c in BAD_TEXTS])
def test_bad_text_uploads_get_a_sentence(case, name, data, message):
    with pytest.raises(ValueError, match=message) as err:
        sentences_from_upload(name, data)
    sentence(str(err.value))


def test_pasted_html_stays_text():
    s = sentences_from_paste("<img src=x onerror=alert(1)>\n=cmd|' /C calc'!A0\n😀 emoji line")
    assert s.texts == ("<img src=x onerror=alert(1)>", "=cmd|' /C calc'!A0", "😀 emoji line")


# ---- absurd widget values (every page builds a TrainConfig from its widgets) --------------------------

ABSURD = [
    ("p = 0", {"p": 0.0}, "p .the training fraction. must be greater than 0"),
    ("p above 1", {"p": 1.5}, "p .the training fraction. must be greater than 0"),
    ("p NaN", {"p": math.nan}, "p .the training fraction. must be"),
    ("p as text", {"p": "lots"}, "p .the training fraction. must be a number"),
    ("epochs = 0", {"epochs": 0}, "epochs must be between"),
    ("epochs absurd", {"epochs": 10**9}, "epochs must be between"),
    ("poison = 1", {"poison": 1.0}, "poison must be below 1"),
    ("negative poison", {"poison": -0.1}, "poison .the poisoned fraction. must be between"),
    ("batch size 0", {"batch_size": 0}, "batch size must be between"),
    ("lr infinite", {"lr": math.inf}, "learning rate must be"),
    ("unknown model", {"model": "Z"}, "model must be one of"),
    ("unknown defence", {"defence": "magic"}, "defence must be one of"),
]


@pytest.mark.parametrize("case,values,message", ABSURD, ids=[c[0] for c in ABSURD])
def test_absurd_settings_get_a_sentence(case, values, message):
    with pytest.raises(ValueError, match=message) as err:
        TrainConfig(**values)
    sentence(str(err.value))


def test_a_vocabulary_smaller_than_a_batch_trains():
    from core.runs.experiment import TrainingRun, prepare_items

    prepared = prepare_items(
        ["a", "b", "c", "d", "e"],
        "none",
        CachedTeacher(HashTeacher(8), Path(pytest.importorskip("tempfile").mkdtemp())),
    )
    run = TrainingRun(
        TrainConfig(teacher="hash-8", p=0.5, epochs=2, batch_size=256),
        prepared,
        Path(pytest.importorskip("tempfile").mkdtemp()),
        device="cpu",
    )
    records = list(run)
    assert len(records) == 2 and all(np.isfinite(r.train_loss) for r in records)


def test_the_smallest_p_still_asks_the_teacher_something():
    words = [f"w{i}" for i in range(10)]
    data = build_dataset(words, HashTeacher(8).embed(words), 1e-9, 0.0, 0)
    assert len(data.train_idx) >= 1 and len(data.heldout_idx) >= 1


# ---- the store: names that escape it, tampered and broken run folders -----------------------------------


@pytest.mark.parametrize(
    "bad", ["../../etc/passwd", "/abs/path", "a/../../b", "..", ".hidden", "x" * 300, "run\x00id", "név with space"]
)
def test_run_names_cannot_escape_the_store(tmp_path, bad):
    with pytest.raises(ValueError, match="not a valid run id") as err:
        check_run_id(bad)
    sentence(str(err.value))
    with pytest.raises((ValueError, RunNotFound)):
        load_run(tmp_path, bad)


@pytest.fixture
def two_runs(tmp_path, stored_run_parts):
    config, dataset, records, model = stored_run_parts
    ids = [
        save_run(tmp_path, config, dataset, records, model, teacher_id="hash-16", teacher_queries=1) for _ in range(2)
    ]
    return tmp_path, ids


def test_a_run_with_broken_json_is_skipped_and_the_others_stay(two_runs):
    root, (a, b) = two_runs
    (root / a / "run.json").write_text("{ not json")
    assert list_runs(root)["run_id"].to_list() == [b]
    with pytest.raises(ValueError):
        load_run(root, a)
    assert (root / a / "student.safetensors").exists()  # nothing deleted: the user can repair it


def test_a_tampered_config_gets_a_sentence(two_runs):
    root, (a, _) = two_runs
    meta = json.loads((root / a / "run.json").read_text())
    meta["config"]["p"] = 7
    (root / a / "run.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="p .the training fraction. must be") as err:
        load_run(root, a)
    sentence(str(err.value))


def test_a_tampered_student_size_cannot_exhaust_memory(two_runs):
    root, (a, _) = two_runs
    path = root / a / "student.json"
    config = json.loads(path.read_text())
    config["vocab_size"] = 10**12  # would allocate terabytes if believed
    path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="cannot be used") as err:
        load_run(root, a).student()
    sentence(str(err.value))


def test_damaged_student_weights_get_a_sentence(two_runs):
    root, (a, b) = two_runs
    (root / a / "student.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="damaged") as err:
        load_run(root, a).student()
    sentence(str(err.value))
    assert load_run(root, b).student() is not None  # the other run is untouched


def test_a_pickle_in_a_run_folder_is_never_loaded(two_runs):
    root, (a, b) = two_runs
    marker = root / "pwned"
    import pickle

    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    # a pickle where the weights belong, and under the names torch and older formats use: never unpickled
    for name in ("student.safetensors", "student.pt", "student.bin"):
        (root / a / name).write_bytes(pickle.dumps(Evil()))
    with pytest.raises(DamagedData) as err:
        load_run(root, a).student()
    sentence(str(err.value))
    assert not marker.exists()
    assert load_run(root, b).student() is not None  # the other run is untouched


# ---- broken cache files ----------------------------------------------------------------------------------


def test_a_broken_teacher_cache_is_moved_aside_and_recomputed(tmp_path):
    teacher = HashTeacher(8)
    (tmp_path / f"{teacher.id}.sqlite").write_bytes(b"this is not a database" * 100)
    cached = CachedTeacher(teacher, tmp_path)
    np.testing.assert_allclose(cached.embed(["a", "b"]), teacher.embed(["a", "b"]))
    assert list(tmp_path.glob(f"{teacher.id}.sqlite.broken*"))  # kept for inspection, not deleted


def test_a_cache_row_of_the_wrong_width_is_recomputed(tmp_path):
    teacher = HashTeacher(8)
    cached = CachedTeacher(teacher, tmp_path)
    cached.embed(["a"])
    with sqlite3.connect(tmp_path / f"{teacher.id}.sqlite") as con:
        con.execute("UPDATE vectors SET vec = ? WHERE text = 'a'", (np.zeros(3, np.float32).tobytes(),))
    np.testing.assert_allclose(CachedTeacher(teacher, tmp_path).embed(["a"]), teacher.embed(["a"]))


def test_a_broken_projection_cache_file_is_recomputed(tmp_path):
    x = np.random.default_rng(0).normal(size=(30, 5)).astype(np.float32)
    cache = ProjectionCache(tmp_path)
    key = ProjectionCache.key(x, Method.PCA)
    np.save(cache.path(key), np.zeros((3, 7)))  # valid file, wrong shape
    assert project(x, Method.PCA, cache).shape == (30, 2)
    cache.path(key).write_bytes(b"garbage")
    assert project(x, Method.PCA, cache).shape == (30, 2)


def test_a_broken_spending_record_stops_paid_calls(tmp_path):
    from core.teachers.api import ApiSettings, ApiTeacher
    from core.teachers.spend import BudgetExceeded, SpendLedger

    (tmp_path / "api-spend.json").write_text("{broken")
    t = ApiTeacher(ApiSettings("http://127.0.0.1:9/v1", "m"), SpendLedger(tmp_path / "api-spend.json"))
    with pytest.raises(BudgetExceeded, match="unreadable") as err:
        t.embed(["a"])
    sentence(str(err.value))
    assert t.requests == 0


# ---- command-line flags ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args,message",
    [
        (["train", "--p", "lots"], "not a number"),
        (["train", "--teacher", "hash-32", "--epochs", "0"], "epochs must be between"),
        (["train", "--teacher", "/no/such/folder"], "Could not load the teacher"),
        (["adapter", "--arch", "transformer-xl", "--cheap", "hash-16", "--teacher", "hash-32"], "arch must be one of"),
    ],
)
@pytest.mark.subprocess
def test_bad_cli_flags_get_a_sentence(tmp_path, args, message):
    import os

    env = {**os.environ, "EMBEDDING_LAB_HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "core", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode != 0
    assert message in out.stderr, out.stderr[-2000:]
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    "field,value",
    [
        ("final", [1]),
        ("detection_precision", "x"),
        ("created", 12345),
        ("teacher_id", None),
        ("final", {"heldout_cosine": "high"}),
    ],
)
def test_a_run_json_with_wrong_types_never_breaks_the_list(two_runs, field, value):
    root, (a, b) = two_runs
    meta = json.loads((root / a / "run.json").read_text())
    meta[field] = value
    (root / a / "run.json").write_text(json.dumps(meta))
    listed = list_runs(root)["run_id"].to_list()
    assert b in listed  # the other run is always listed; the odd one is listed (its value as text) or skipped
