import json
import os

import pytest
import torch

from core.config import TrainConfig
from core.runs.experiment import TrainingRun, prepare_items
from core.runs.store import RunNotFound, check_run_id, delete_run, list_runs, load_run
from core.teachers.teacher import CachedTeacher, HashTeacher


@pytest.fixture
def stored(tmp_path):
    words = [f"w{i}" for i in range(100)]
    prepared = prepare_items(words, "none", CachedTeacher(HashTeacher(8), tmp_path / "cache"))
    config = TrainConfig(teacher="hash-8", p=0.2, epochs=3, poison=0.1, seed=4)
    run = TrainingRun(config, prepared, tmp_path / "runs", device="cpu")
    list(run)
    return run, tmp_path / "runs"


def test_round_trip(stored):
    run, root = stored
    back = load_run(root, run.run_id)
    assert back.config == run.config
    assert back.epochs["train_loss"].to_list() == [r.train_loss for r in run.records]
    assert back.items.height == 100 and back.items["poisoned"].sum() == 10
    assert back.items.filter(back.items["split"] == "training").height == 20
    assert back.means().height == 3 * 100
    student = back.student()
    torch.testing.assert_close(student(torch.arange(100)), run.model.eval()(torch.arange(100)))
    assert back.meta["teacher_queries"] == 20 and back.meta["status"] == "finished"
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_list_and_delete(stored):
    run, root = stored
    table = list_runs(root)
    assert table["run_id"].to_list() == [run.run_id] and table["p"][0] == 0.2
    delete_run(root, run.run_id)
    assert list_runs(root).is_empty()
    with pytest.raises(RunNotFound):
        delete_run(root, run.run_id)


def test_unreadable_run_folders_are_skipped_not_fatal(stored):
    run, root = stored
    (root / "garbage").mkdir()
    (root / "garbage" / "run.json").write_text("{not json")
    assert list_runs(root).height == 1


def test_tampered_config_is_refused(stored):
    run, root = stored
    meta = json.loads((root / run.run_id / "run.json").read_text())
    meta["config"]["p"] = 7
    (root / run.run_id / "run.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="at most 1"):
        load_run(root, run.run_id)


@pytest.mark.parametrize("bad", ["../etc", "a/b", ".hidden", "", "x" * 200, "a..b"])
def test_run_ids_cannot_escape_the_store(bad):
    with pytest.raises(ValueError, match="not a valid run id"):
        check_run_id(bad)


def test_two_runs_drawing_the_same_id_are_both_kept(stored, monkeypatch):
    # A sweep saves a group's runs with one model and p in the same second; were their random suffixes
    # to collide, the second must take another id, not fail and lose its run.
    import core.runs.store as store

    run, root = stored
    back = load_run(root, run.run_id)
    ids = iter([run.run_id, run.run_id + "x"])
    monkeypatch.setattr(store, "new_run_id", lambda config: next(ids))
    second = store.save_run(
        root, run.config, run.dataset, run.records, run.model, teacher_id=back.meta["teacher_id"], teacher_queries=0
    )
    assert second == run.run_id + "x"
    assert load_run(root, second).meta["run_id"] == second
    assert load_run(root, run.run_id).meta["created"] == back.meta["created"]  # the first one untouched
    # A chosen id that is taken is refused, not silently renamed.
    with pytest.raises(OSError):
        store.save_run(
            root, run.config, run.dataset, run.records, run.model, teacher_id="t", teacher_queries=0, run_id=run.run_id
        )


def test_a_checkpointed_run_whose_planned_id_is_taken_draws_another(stored, monkeypatch):
    import core.runs.experiment as experiment

    run, root = stored
    first = load_run(root, run.run_id).meta
    ids = iter([run.run_id, run.run_id + "y"])
    monkeypatch.setattr(experiment, "new_run_id", lambda config: next(ids))
    again = TrainingRun(run.config, run.prepared, root, device="cpu", checkpoint_every=60.0)
    list(again)
    assert again.run_id == run.run_id + "y"
    assert load_run(root, run.run_id).meta == first  # the other run is untouched
    assert load_run(root, again.run_id).meta["status"] == "finished"


def test_a_journal_written_on_another_machine_is_left_alone_until_stale(tmp_path):
    """A Ray worker elsewhere writes into the shared store: its pid means nothing here, so its run counts as
    alive until no epoch has reached the journal for REMOTE_STALE_SECONDS."""
    import json
    import os
    import time

    from core.runs import store

    live = store.start_journal(tmp_path, "20261128-120000-B-p0.1-abcd1234")
    owner = json.loads((live / "owner.json").read_text())
    owner.update(host="another-machine", pid=987654321)
    (live / "owner.json").write_text(json.dumps(owner))
    assert store.recover_interrupted(tmp_path) == [] and live.exists()
    old = time.time() - store.REMOTE_STALE_SECONDS - 10
    for f in live.iterdir():
        os.utime(f, (old, old))
    store.recover_interrupted(tmp_path)
    assert not live.exists()  # died before its first checkpoint: nothing to keep, the journal is cleared


def test_a_file_this_user_may_not_read_is_storage_unavailable_not_damage(stored, monkeypatch):
    """A PermissionError is no damage: the sentence says nothing is damaged and never says to delete the run."""
    import builtins

    from core.errors import DamagedData, StorageUnavailable
    from core.runs.store import read_student

    run, root = stored
    real_open = builtins.open

    def closed(path, *args, **kwargs):
        if str(path).endswith("student.json"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("core.runs.checks.open", closed, raising=False)
    with pytest.raises(StorageUnavailable) as caught:
        read_student(root / run.run_id, run.run_id)
    message = str(caught.value)
    assert not isinstance(caught.value, DamagedData)
    assert "student.json cannot be read (no permission" in message and "nothing is damaged" in message
    assert "delete the run" not in message
    monkeypatch.setattr(
        "core.runs.checks.open",
        lambda path, *a, **k: closed(str(path).replace("run.json", "student.json"), *a, **k),
        raising=False,
    )
    assert list_runs(root).height == 0  # a run closed to this user is left out of the list, never fatal


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads a file of mode 000")
def test_a_run_json_of_mode_000_is_storage_unavailable(stored):
    from core.errors import StorageUnavailable

    run, root = stored
    path = root / run.run_id / "run.json"
    path.chmod(0o000)
    try:
        with pytest.raises(StorageUnavailable, match="no permission"):
            load_run(root, run.run_id)
    finally:
        path.chmod(0o644)


def test_the_runs_list_reads_a_run_json_again_only_when_it_changed(stored, monkeypatch):
    """Issue 30: a page that lists the runs reads only what changed since the last listing (a class's hundred runs
    were read again on every page run); an edit, a new run, a deleted one and a repaired one are all seen."""
    from core.runs import layout, store

    run, root = stored
    reads = []
    real = store.read_meta
    monkeypatch.setattr(store, "read_meta", lambda folder, run_id: reads.append(run_id) or real(folder, run_id))
    monkeypatch.setattr(store, "_RACY_SECONDS", -1.0)  # trust this test's just-written files (see the racy test)
    (root / "garbage").mkdir()
    (root / "garbage" / "run.json").write_text("{not json")
    assert list_runs(root).height == 1 and sorted(reads) == sorted([run.run_id, "garbage"])
    reads.clear()
    assert list_runs(root)["run_id"].to_list() == [run.run_id] and reads == []  # nothing changed: nothing read
    meta = json.loads((root / run.run_id / "run.json").read_text())
    layout.rewrite_meta(root / run.run_id / "run.json", {**meta, "name": "renamed"})
    assert list_runs(root)["name"].to_list() == ["renamed"] and reads == [run.run_id]
    reads.clear()
    (root / "garbage" / "run.json").write_text(json.dumps(meta))  # repaired in place: another run's copy
    assert list_runs(root).height == 2 and reads == ["garbage"]
    delete_run(root, run.run_id)
    assert list_runs(root)["run_id"].to_list() == [run.run_id]  # the copy in 'garbage' names the same run
    assert run.run_id not in store._ROWS[root]  # the deleted run is forgotten


def test_a_run_json_written_just_now_is_read_every_time(stored, monkeypatch):
    """Two writes within one tick of the file system's clock can leave the same stamp (times and size): a file
    younger than the racy window is never served from memory, an older one is."""
    from core.runs import store

    run, root = stored
    folder = root / run.run_id
    st = (folder / "run.json").stat()
    stale = ((st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size), {"run_id": "what an earlier write said"})
    monkeypatch.setattr(store.time, "time", lambda: st.st_mtime + store._RACY_SECONDS / 2)
    assert store._row(folder, stale)[1]["run_id"] == run.run_id  # within the window: read again
    monkeypatch.setattr(store.time, "time", lambda: st.st_mtime + store._RACY_SECONDS * 2)
    assert store._row(folder, stale) is stale  # an older file whose stamp is unchanged: the kept row
