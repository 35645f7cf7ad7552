"""Take a student away (sentence-transformers StaticEmbedding folder + run card) and bring a run back."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from core.config import TrainConfig
from core.runs.experiment import TrainingRun, prepare_items
from core.runs.store import list_runs, load_run
from core.runs.takeaway import ImportRefused, data_hash, export_static, import_run, run_card, zip_run
from core.teachers.teacher import CachedTeacher, HashTeacher
from core.words.students import student_vectors

WORDS = [f"word{i}" for i in range(80)] + ["king", "queen"]


@pytest.fixture
def stored(tmp_path):
    prepared = prepare_items(WORDS, "none", CachedTeacher(HashTeacher(16), tmp_path / "cache"))
    run = TrainingRun(
        TrainConfig(teacher="hash-16", model="B", p=0.5, epochs=3, poison=0.1),
        prepared,
        tmp_path / "runs",
        device="cpu",
    )
    list(run)
    return load_run(tmp_path / "runs", run.run_id)


def test_export_round_trip_gives_the_students_vectors(stored, tmp_path):
    from sentence_transformers import SentenceTransformer

    folder = export_static(stored, tmp_path / "student")
    loaded = SentenceTransformer(str(folder), device="cpu")  # plain: sentence-transformers' own modules only
    ours = student_vectors(stored.student()).numpy()
    ours /= np.linalg.norm(ours, axis=1, keepdims=True)
    np.testing.assert_allclose(loaded.encode(WORDS), ours, atol=1e-5)
    both = loaded.encode(["king queen"])[0]
    mean = ours[-2] + ours[-1]
    np.testing.assert_allclose(both, mean / np.linalg.norm(mean), atol=1e-5)
    np.testing.assert_allclose(
        loaded.encode(["king zzzunknown"])[0], ours[-2], atol=1e-5
    )  # an unknown word adds nothing
    card = json.loads((folder / "run_card.json").read_text())
    assert card["data_sha256"] == data_hash(stored) and card["config"]["p"] == 0.5 and card["teacher_id"] == "hash-16"
    assert card["final"]["heldout_cosine"] == stored.meta["final"]["heldout_cosine"]


def test_zip_and_import_back(stored, tmp_path):
    data = zip_run(stored)
    elsewhere = tmp_path / "other-store"
    run_id = import_run(data, elsewhere)
    assert run_id == stored.run_id
    back = load_run(elsewhere, run_id)
    assert back.epochs.equals(stored.epochs) and back.items.equals(stored.items)
    np.testing.assert_allclose(student_vectors(back.student()).numpy(), student_vectors(stored.student()).numpy())
    again = import_run(data, elsewhere)  # the name is taken: a fresh one, nothing overwritten
    assert again != run_id and again.startswith(run_id) and list_runs(elsewhere).height == 2
    assert run_card(back)["data_sha256"] == data_hash(stored)


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, content in files.items():
            z.writestr(name, content)
    return buffer.getvalue()


def _files(stored) -> dict[str, bytes]:
    return {
        name: (stored.folder / name).read_bytes()
        for name in ("run.json", "epochs.parquet", "items.parquet", "student.json", "student.safetensors")
    }


def test_hostile_archives_are_refused_or_defused(stored, tmp_path):
    root = tmp_path / "store"
    with pytest.raises(ImportRefused, match="not a zip"):
        import_run(b"PK\x03\x04 not really", root)
    with pytest.raises(ImportRefused, match="lacks student.safetensors"):
        import_run(_zip({k: v for k, v in _files(stored).items() if k != "student.safetensors"}), root)
    # paths that try to escape, a pickle, a script: only the run's own file names are read, by base name
    files = {f"../../../{k}": v for k, v in _files(stored).items()}
    files["../../evil.py"] = b"print('pwned')"
    files["student.pt"] = b"\x80\x04pickle"
    run_id = import_run(_zip(files), root)
    assert sorted(p.name for p in (root / run_id).iterdir()) == sorted(_files(stored))
    assert not (tmp_path / "evil.py").exists() and not list(tmp_path.glob("*.pt"))
    # a run.json that names a path as its id gets a fresh, valid name
    meta = json.loads(_files(stored)["run.json"])
    meta["run_id"] = "../../outside"
    run_id = import_run(_zip({**_files(stored), "run.json": json.dumps(meta).encode()}), root)
    assert run_id.startswith("imported-") and (root / run_id).is_dir()
    # weights that do not match the settings, settings out of range, a duplicate file
    student = json.loads(_files(stored)["student.json"])
    student["dim"] = 99
    with pytest.raises(ImportRefused, match="weights do not match"):
        import_run(_zip({**_files(stored), "student.json": json.dumps(student).encode()}), root)
    meta = json.loads(_files(stored)["run.json"])
    meta["config"]["epochs"] = -4
    with pytest.raises(ImportRefused, match="epochs must be between"):
        import_run(_zip({**_files(stored), "run.json": json.dumps(meta).encode()}), root)
    doubled = io.BytesIO()
    with zipfile.ZipFile(doubled, "w") as z:
        for k, v in _files(stored).items():
            z.writestr(k, v)
        z.writestr("again/run.json", _files(stored)["run.json"])
    with pytest.raises(ImportRefused, match="two 'run.json'"):
        import_run(doubled.getvalue(), root)
    assert not list(root.glob(".import-*"))  # refused imports leave nothing behind
    assert list_runs(root).height == 2


def test_cli_export_and_import(stored, tmp_path, monkeypatch, capsys):
    from core.__main__ import main

    monkeypatch.setenv("EMBEDDING_LAB_HOME", str(tmp_path))  # the fixture's store is tmp_path / "runs"
    assert main(["export", stored.run_id, "--to", str(tmp_path / "student")]) == 0
    assert (tmp_path / "student" / "modules.json").exists() and (tmp_path / "student" / "run_card.json").exists()
    assert main(["export", stored.run_id, "--run-zip", "--to", str(tmp_path / "run.zip")]) == 0
    assert main(["import", str(tmp_path / "run.zip")]) == 0
    assert "Imported as run" in capsys.readouterr().out
    assert main(["import", str(tmp_path / "nope.zip")]) != 0
    assert main(["export", "../../etc", "--to", str(tmp_path / "x")]) != 0
