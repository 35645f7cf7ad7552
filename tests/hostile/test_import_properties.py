"""Issue 23: any bytes in, the run importer gives a stored run or a sentence, never another exception.

Property: for random bytes, byte-level damage to a valid run zip (flips, truncation), and member-level damage
(bytes flipped inside one file and zipped again so the zip's checksums pass, files swapped, dropped or
doubled, run.json fields set to random JSON), `import_run` either returns an id — and then the run is in the
listing and every one of its files reads back — or raises ImportRefused / DamagedData whose message is one
sentence, leaving nothing behind. One tiny honest run (six words, the fake hash teacher, two epochs) is built
once, so each example costs milliseconds.

Issue 33 widened the draw: NaN, infinities and huge numbers in any number of run.json (its settings, its final
scores, its rates), scores outside their range, path-like teacher and cheap-encoder ids, and Parquet tables with
an oversized column (a junk column, or texts of megabytes). The keys are read from the settings' dataclasses
(`TrainConfig`, `StudentConfig`) and from the honest run's own run.json, never copied by hand, so a setting added
later is drawn too. An import that succeeds holds only finite numbers.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import math
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config import TrainConfig
from core.data.corpus import Vocabulary
from core.errors import DamagedData
from core.paths import check_cache_id
from core.runs.store import EPOCH_COLUMNS, ITEM_COLUMNS, MEANS_COLUMNS, list_runs, load_run
from core.runs.takeaway import RUN_FILES, ImportRefused, import_run, zip_run
from core.words.students import StudentConfig

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


@functools.cache
def honest_meta() -> dict:
    return json.loads(dict(honest_files())["run.json"])


# Every key is read from what the lab itself defines: a setting added to a dataclass (or a field to run.json) is
# drawn without touching this. run.json's keys come from the honest run, built on the first draw, not at import.
CONFIG_KEYS = [f.name for f in dataclasses.fields(TrainConfig)]
STUDENT_KEYS = [f.name for f in dataclasses.fields(StudentConfig)]


def meta_keys() -> list[str]:
    return sorted({*honest_meta(), "owner", "shared", "imported", "detection_precision", "detection_recall"})


def final_keys() -> list[str]:
    return sorted(honest_meta()["final"])


TABLES = ["epochs.parquet", "items.parquet", "means.parquet"]

# Numbers no run can hold, and numbers at the edges of what one can.
hostile_numbers = st.sampled_from(
    [math.nan, math.inf, -math.inf, 1e308, -1e308, 2**63, -(2**63), 5.0, -1.5, -0.5, 1e-320, 0, -1]
) | st.floats(allow_nan=True, allow_infinity=True)
# Ids that would be paths if joined onto the cache folder.
path_ids = st.sampled_from(["../../../../tmp/x/stolen", "/etc/passwd", "a/b", "..", ".", "x\x00y", "..\\x", ""]) | (
    st.text(max_size=20).map(lambda t: "../" + t)
)


def _oversized(draw, content: bytes) -> bytes:
    """A table with an extra column, or its first text column, of megabytes of text (tiny once compressed)."""
    frame = pl.read_parquet(io.BytesIO(content))
    size = draw(st.sampled_from([10**5, 10**6, 5 * 10**6]))
    texts = [name for name, dtype in frame.schema.items() if dtype == pl.Utf8]
    if texts and draw(st.booleans()):
        frame = frame.with_columns(pl.lit("x" * size).alias(texts[0]))
    else:
        frame = frame.with_columns(pl.lit("j" * size).alias(draw(st.sampled_from(["junk", "note", "loss2"]))))
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


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
                "meta-number",
                "config-number",
                "final-score",
                "student-value",
                "path-id",
                "oversized-column",
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
    elif kind == "oversized-column":
        name = draw(st.sampled_from([t for t in TABLES if t in contents]))
        contents[name] = _oversized(draw, contents[name])
    elif kind in ("student-value", "path-id") and draw(st.booleans()):
        student = json.loads(contents["student.json"])
        key = "cheap" if kind == "path-id" else draw(st.sampled_from(STUDENT_KEYS))
        student[key] = draw(path_ids if kind == "path-id" else json_values | hostile_numbers)
        contents["student.json"] = json.dumps(student).encode()
    else:
        meta = json.loads(contents["run.json"])
        if kind == "meta-value":
            meta[draw(st.sampled_from(meta_keys()))] = draw(json_values)
        elif kind == "config-value":
            meta["config"][draw(st.sampled_from(CONFIG_KEYS))] = draw(json_values)
        elif kind == "meta-number":
            meta[draw(st.sampled_from(meta_keys()))] = draw(hostile_numbers)
        elif kind == "config-number":
            meta["config"][draw(st.sampled_from(CONFIG_KEYS))] = draw(hostile_numbers)
        elif kind == "final-score":
            meta["final"][draw(st.sampled_from(final_keys()))] = draw(hostile_numbers)
        elif kind in ("path-id", "student-value"):
            meta["teacher_id"] = draw(path_ids)
        else:
            meta.pop(draw(st.sampled_from(meta_keys())), None)
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
        means = stored.means()
        assert stored.meta["imported"] and stored.items.height == stored.meta["items"]
        assert {p.name for p in (root / run_id).iterdir()} <= set(RUN_FILES)
        _all_finite(stored.meta, stored.epochs, means)
        _ids_name_caches(stored.meta, root / run_id)
        for frame, columns in ((stored.epochs, EPOCH_COLUMNS), (stored.items, ITEM_COLUMNS), (means, MEANS_COLUMNS)):
            assert set(frame.columns) <= set(columns), frame.columns  # no junk column came in


def _ids_name_caches(meta: dict, folder: Path) -> None:
    """An accepted run's teacher id and cheap-encoder ids name caches (check_cache_id), never paths: a run that
    imports but is refused when its vectors are read is no import."""
    student = json.loads((folder / "student.json").read_text()) if (folder / "student.json").is_file() else {}
    config = meta.get("config") if isinstance(meta.get("config"), dict) else {}
    for field, value in (
        ("teacher_id", meta.get("teacher_id")),
        ("cheap", student.get("cheap")),
        ("config.cheap", config.get("cheap")),
    ):
        if value not in (None, ""):
            check_cache_id(value, field)


def _all_finite(meta: dict, epochs: pl.DataFrame, means: pl.DataFrame) -> None:
    """What an import let in holds only numbers a run can have measured."""
    numbers = [
        v for v in (*(meta.get("final") or {}).values(), *meta.values()) if isinstance(v, float)
    ]  # final may be null
    assert all(math.isfinite(v) for v in numbers), meta
    for frame in (epochs, means):
        for name, dtype in frame.schema.items():
            if dtype.is_float():
                assert np.isfinite(frame[name].drop_nulls().to_numpy()).all(), name


def test_the_honest_zip_imports():
    with tempfile.TemporaryDirectory() as tmp:
        assert import_run(_zip(list(honest_files())), Path(tmp) / "runs")
