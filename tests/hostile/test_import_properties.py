"""Issue 23: any bytes in, the run importer gives a stored run or a sentence, never another exception.

Property: for random bytes, byte-level damage to a valid run zip (flips, truncation), and member-level damage
(bytes flipped inside one file and zipped again so the zip's checksums pass, files swapped, dropped or
doubled, run.json fields set to random JSON), `import_run` either returns an id — and then the run is in the
listing and every one of its files reads back — or raises ImportRefused / DamagedData whose message is one
sentence, leaving nothing behind. One tiny honest run (six words, the fake hash teacher, two epochs) is built
once, so each example costs milliseconds.
"""

from __future__ import annotations

import functools
import io
import json
import tempfile
import zipfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config import TrainConfig
from core.data.corpus import Vocabulary
from core.errors import DamagedData
from core.runs.store import list_runs, load_run
from core.runs.takeaway import RUN_FILES, ImportRefused, import_run, zip_run

WORDS = ["cat", "dog", "king", "queen", "water", "fire"]


@functools.cache
def honest_files() -> tuple[tuple[str, bytes], ...]:
    """The members of one honest run's zip, by file name (built once per test session)."""
    from core.runs.experiment import TrainingRun, prepare_items
    from core.teachers.teacher import CachedTeacher, HashTeacher

    with tempfile.TemporaryDirectory() as tmp:
        prepared = prepare_items(WORDS, "none", CachedTeacher(HashTeacher(8), Path(tmp) / "cache"))
        config = TrainConfig(teacher="hash-8", model="B", p=0.5, epochs=2, vocabulary=Vocabulary(WORDS, "tiny").label)
        run = TrainingRun(config, prepared, Path(tmp) / "runs", device="cpu")
        list(run)
        data = zip_run(load_run(Path(tmp) / "runs", run.run_id))
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return tuple((name.split("/", 1)[1], z.read(name)) for name in z.namelist())


def _zip(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in members:
            z.writestr(f"run/{name}", content)
    return buffer.getvalue()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
META_KEYS = [
    "run_id",
    "created",
    "status",
    "config",
    "teacher_id",
    "items",
    "train_size",
    "heldout_size",
    "poisoned_items",
    "teacher_queries",
    "epochs_done",
    "final",
    "detection_precision",
    "detection_recall",
    "owner",
    "shared",
    "imported",
]
CONFIG_KEYS = [
    "teacher",
    "model",
    "p",
    "epochs",
    "lemmatize",
    "poison",
    "seed",
    "batch_size",
    "lr",
    "vocabulary",
    "defence",
    "trim",
]


@st.composite
def flipped(draw, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        i = draw(st.integers(0, len(out) - 1))
        out[i] ^= draw(st.integers(1, 255))
    return bytes(out)


@st.composite
def hostile_zips(draw) -> bytes:
    files = list(honest_files())
    kind = draw(
        st.sampled_from(
            [
                "random",
                "flip-zip",
                "truncate-zip",
                "flip-member",
                "truncate-member",
                "swap",
                "drop",
                "double",
                "meta-value",
                "config-value",
                "meta-delete",
            ]
        )
    )
    if kind == "random":
        return draw(st.binary(max_size=4096))
    if kind == "flip-zip":
        return draw(flipped(_zip(files)))
    if kind == "truncate-zip":
        data = _zip(files)
        return data[: draw(st.integers(0, len(data) - 1))]
    names = [name for name, _ in files]
    contents = dict(files)
    if kind in ("flip-member", "truncate-member"):
        name = draw(st.sampled_from(names))
        content = contents[name]
        contents[name] = (
            draw(flipped(content))
            if kind == "flip-member"
            else content[: draw(st.integers(0, max(len(content) - 1, 0)))]
        )
    elif kind == "swap":
        a, b = draw(st.lists(st.sampled_from(names), min_size=2, max_size=2, unique=True))
        contents[a], contents[b] = contents[b], contents[a]
    elif kind == "drop":
        contents.pop(draw(st.sampled_from(names)))
    elif kind == "double":
        name = draw(st.sampled_from(names))
        return _zip([*contents.items(), (name if draw(st.booleans()) else f"../{name}", draw(st.binary(max_size=64)))])
    else:
        meta = json.loads(contents["run.json"])
        if kind == "meta-value":
            meta[draw(st.sampled_from(META_KEYS))] = draw(json_values)
        elif kind == "config-value":
            meta["config"][draw(st.sampled_from(CONFIG_KEYS))] = draw(json_values)
        else:
            meta.pop(draw(st.sampled_from(META_KEYS)), None)
        contents["run.json"] = json.dumps(meta).encode()
    return _zip(list(contents.items()))


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=hostile_zips())
def test_any_bytes_give_a_run_or_a_sentence(data):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "runs"
        try:
            run_id = import_run(data, root)
        except (ImportRefused, DamagedData) as err:
            message = str(err)
            assert message and "\n" not in message and len(message) < 500, message
            assert not root.exists() or not any(root.iterdir()), sorted(p.name for p in root.iterdir())
            return
        assert sorted(p.name for p in root.iterdir()) == [run_id]
        assert list_runs(root)["run_id"].to_list() == [run_id]  # an import the listing drops would be no import
        stored = load_run(root, run_id)
        stored.means()
        assert stored.meta["imported"] and stored.items.height == stored.meta["items"]
        assert {p.name for p in (root / run_id).iterdir()} <= set(RUN_FILES)


def test_the_honest_zip_imports():
    with tempfile.TemporaryDirectory() as tmp:
        assert import_run(_zip(list(honest_files())), Path(tmp) / "runs")
