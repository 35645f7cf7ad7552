import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.__main__ import main

ROOT = Path(__file__).resolve().parents[2]


def test_train_json_lines(capsys, tmp_path):
    vocab = tmp_path / "words.txt"
    vocab.write_text("\n".join(f"w{i}" for i in range(200)))
    code = main(
        [
            "train",
            "--teacher",
            "hash-16",
            "--vocab",
            str(vocab),
            "--p",
            "0.25",
            "--epochs",
            "3",
            "--poison",
            "0.1",
            "--json",
        ]
    )
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["epoch"] for line in lines[:3]] == [1, 2, 3]
    final = lines[-1]
    for key in (
        "run_id",
        "teacher_queries",
        "train_size",
        "heldout_size",
        "final_train_loss",
        "heldout_cosine",
        "seconds",
    ):
        assert key in final
    assert final["teacher_queries"] == final["train_size"] == 50 and final["heldout_size"] == 150

    assert main(["runs"]) == 0
    assert final["run_id"] in capsys.readouterr().out
    assert main(["delete", final["run_id"]]) == 0


def test_embed_counts_cache_hits(capsys, tmp_path):
    vocab = tmp_path / "w.txt"
    vocab.write_text("a\nb\nc\n")
    main(["embed", "--teacher", "hash", "--vocab", str(vocab)])
    main(["embed", "--teacher", "hash", "--vocab", str(vocab)])
    first, second = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (first["computed"], second["computed"], second["cached"]) == (3, 0, 3)


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["train", "--p", "0"], "p (the training fraction) must be greater than 0"),
        (["train", "--p", "abc"], "'abc' is not a number"),
        (["train", "--epochs", "-3"], "epochs must be between"),
        (["train", "--model", "Z"], "model must be one of A, B, ridge, mlp, kernel, subword"),
        (["train", "--poison", "1"], "poison must be below 1"),
        (["train", "--bogus"], "unrecognized arguments"),
        (["train", "--vocab", "/no/such/file.txt", "--teacher", "hash"], "There is no file"),
        (["train", "--teacher", "hash-x"], "not a fake teacher name"),
        (["delete", "../../etc"], "not a valid run id"),
        (["frobnicate"], "invalid choice"),
    ],
)
@pytest.mark.subprocess
def test_bad_input_is_one_line_and_exit_code_2(argv, fragment, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "core", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,  # generous: importing torch under load
        env={**__import__("os").environ, "EMBEDDING_LAB_HOME": str(tmp_path)},
    )
    assert proc.returncode == 2
    assert fragment in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_cli_on_the_real_teacher(capsys):
    code = main(
        [
            "train",
            "--teacher",
            "minilm",
            "--size",
            "1000",
            "--model",
            "B",
            "--p",
            "0.095",
            "--epochs",
            "2",
            "--lemmatize",
            "--poison",
            "0.1",
            "--json",
        ]
    )
    assert code == 0
    final = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert final["teacher"] == "all-MiniLM-L6-v2" and final["lemmatize"] == "spacy" and final["items"] < 1000
