"""Bring a run back: `import_run` reads only the run's own file names (JSON, Parquet, safetensors; nothing unpickled),
never extracts a path from the archive, caps every size from the run's own, checks every file before the run appears,
and gives it a fresh, valid name when its own is taken or unusable."""

from __future__ import annotations

import hashlib
import io
import json
import re
import secrets
import shutil
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from core.config import MAX_EPOCHS, LemmaMode, TrainConfig
from core.data.corpus import DEFAULT_SIZE, MAX_ITEM_CHARS, MAX_ITEMS
from core.data.table_sizes import parquet_problem
from core.errors import DamagedData
from core.paths import check_cache_id, writing
from core.runs.checks import (
    EPOCH_COLUMNS,
    ITEM_COLUMNS,
    MAX_META_BYTES,
    MEANS_COLUMNS,
    SCORE_RANGES,
    check_meta,
    check_scores,
    parse_meta,
    read_table,
)
from core.runs.hosting import HostSettings
from core.runs.layout import RUN_ID
from core.words.students import StudentConfig, student_class

if TYPE_CHECKING:
    from core.words.students import StudentConfig

RUN_FILES = ("run.json", "epochs.parquet", "means.parquet", "items.parquet", "student.json", "student.safetensors")
REQUIRED = {"run.json", "epochs.parquet", "items.parquet", "student.json", "student.safetensors"}
MAX_IMPORT_BYTES = 1 << 30  # 1 GiB unpacked: a 200,000-item 1,024-d run is ~1 GB with its means


class ImportRefused(ValueError):
    """The upload is not a usable run; the message says why. Nothing was written.
    (A ValueError, as before core.errors existed: the pages' and the CLI's handlers catch it as one.)"""


@dataclass(frozen=True)
class ImportLimits:
    """The most an imported run may hold on this host: the engine's own limits on a personal machine; a hosted
    server's upload size, vocabulary size and epochs (core.runs.hosting) when it is hosted."""

    zip_bytes: int = MAX_IMPORT_BYTES
    items: int = MAX_ITEMS
    epochs: int = MAX_EPOCHS

    @classmethod
    def of_host(cls, settings: HostSettings | None) -> ImportLimits:
        if settings is None or not settings.hosted:
            return cls()
        # A hosted person may train the default vocabulary whatever max_words says (it bounds uploads): their own
        # run of it must come back in.
        return cls(
            zip_bytes=settings.max_upload_bytes, items=max(settings.max_words, DEFAULT_SIZE), epochs=settings.max_epochs
        )


# What one row of a run's tables can take on disk, generously (uncompressed, Parquet's own overhead aside):
# the caps below are derived from the run's own sizes, so a 20-word run cannot bring a 200 MB file.
_TABLE_OVERHEAD = 1 << 20  # footer, page headers, statistics
_ROW_BYTES = {"items.parquet": 1024, "epochs.parquet": 1024, "means.parquet": 64}  # an item is ≤ 100 characters
_MAX_STUDENT_JSON = 64 << 10
_LABEL = re.compile(r"^(?P<source>.*)-(?P<size>\d+)-(?P<digest>[0-9a-f]{8})\Z")  # core.data.corpus.Vocabulary.label
SPLITS = ("training", "held-out")


def import_run(data: bytes, root: Path, owner: str = "", limits: HostSettings | None = None) -> str:
    """Check a zipped run and add it to the store as `owner`'s (private); returns its id (fresh when
    needed). `limits`: the host's settings (hosted: its upload size, vocabulary size and epochs apply).

    Raises `ImportRefused` with a sentence, having written nothing, when it is not a usable run — not a zip,
    files missing or doubled, a run.json of the wrong types or nested too deep, tables without the lab's
    columns or with more rows than the run has, items that are not the vocabulary its settings name, weights
    of another shape, sizes beyond the run's own or the host's. Sizes are checked in the zip's directory
    before anything is unpacked. `StorageUnavailable` when the store cannot be written."""
    root = Path(root)
    bounds = ImportLimits.of_host(limits)
    if len(data) > bounds.zip_bytes:
        raise ImportRefused(
            f"This zip is {len(data) / 2**20:.2f} MB; this lab takes runs of at most {bounds.zip_bytes / 2**20:.2f} MB."
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except Exception:  # zipfile raises several kinds for a damaged directory (BadZipFile, ValueError, EOFError, ...)
        raise ImportRefused(
            "This is not a zip file; export a run from the Runs page (or `python -m core export`) and upload that."
        ) from None
    chosen: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = PurePosixPath(info.filename.replace("\\", "/")).name
        if info.is_dir() or name not in RUN_FILES:
            continue  # anything else in the archive (a pickle, a script, a path like ../../x) is ignored, never written
        if name in chosen:
            raise ImportRefused(f"The zip holds two '{name}' files; it must hold one run.")
        chosen[name] = info
    missing = sorted(REQUIRED - set(chosen))
    if missing:
        raise ImportRefused(f"The zip is not a run: it lacks {', '.join(missing)}.")
    try:
        meta = parse_meta(_member(archive, chosen["run.json"], MAX_META_BYTES), "in this zip")
        config = check_meta(meta, "in this zip")
        _check_meta_scores(meta)
        student = _student_config(_member(archive, chosen["student.json"], _MAX_STUDENT_JSON))
        _check_sizes(meta, config, student, chosen, bounds)
    except DamagedData as err:
        raise _refusal(err) from None
    with writing(root):
        root.mkdir(parents=True, exist_ok=True)
        tmp = root / f".import-{secrets.token_hex(4)}"
        tmp.mkdir()
    try:
        with writing(root):
            for name, info in chosen.items():
                if name not in ("run.json", "student.json"):
                    _extract(archive, info, tmp / name, _cap(name, meta, student))
            (tmp / "student.json").write_text(json.dumps(student.to_dict()))
        run_id = _check_run_folder(tmp, root, meta, config, student, owner)
        with writing(root):
            tmp.rename(root / run_id)
        return run_id
    except DamagedData as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _refusal(err) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _refusal(err: DamagedData) -> ImportRefused:
    """The store's DamagedData, worded for the person importing."""
    name, why = getattr(err, "file", "run"), getattr(err, "why", str(err))
    return ImportRefused(f"The run's {name} is not usable ({why}); export the run again from the lab that trained it.")


def _member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> bytes:
    """A small member read into memory, at most `cap` bytes whatever the directory claims."""
    name = PurePosixPath(info.filename.replace("\\", "/")).name
    if info.file_size > cap:
        raise ImportRefused(f"The zip's {name} is {info.file_size:,} bytes; a run's {name} is at most {cap:,}.")
    try:
        with archive.open(info) as src:
            raw = src.read(cap + 1)
    except Exception as err:  # CRC errors, an unknown compression, a password: zipfile raises several kinds
        raise ImportRefused(f"The zip's {name} cannot be unpacked ({type(err).__name__}).") from None
    if len(raw) > cap:
        raise ImportRefused(f"The zip's {name} unpacks to more than {cap:,} bytes.")
    return raw


def _check_meta_scores(meta: dict) -> None:
    """run.json's scores (its `final` epoch and the detection rates) are numbers this lab can have measured."""
    if meta.get("final") is not None and not isinstance(meta.get("final"), dict):
        raise ImportRefused("The run's run.json has a 'final' that is not its last epoch's scores.")
    try:
        check_scores(meta.get("final") or {})
        check_scores(meta)
    except TypeError as err:
        raise ImportRefused(f"The run's run.json is not usable ({err}).") from None
    # Every other number too (counts such as 'words', the final 'epoch'): NaN or infinity is no count of anything.
    final = meta.get("final") if isinstance(meta.get("final"), dict) else {}
    for key, value in [*meta.items(), *final.items()]:
        if isinstance(value, float) and not np.isfinite(value):
            raise ImportRefused(f"The run's run.json holds '{str(key)[:40]}' = {value}, not a finite number.")


def _student_config(raw: bytes) -> StudentConfig:
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise TypeError("not a JSON object")
        # names the cache the adapter's features are read from: never a path, nor anything but a name (an empty
        # list is falsy, and slipped past `if data.get("cheap")` until hypothesis found it)
        if data.get("cheap") not in (None, ""):
            check_cache_id(data["cheap"], "cheap")
        return StudentConfig(**data)
    except (ValueError, TypeError, RecursionError) as err:
        why = str(err).strip().splitlines()[0][:160].rstrip(".") if str(err).strip() else type(err).__name__
        raise ImportRefused(f"The run's student.json is not usable ({why}).") from None


def _student_params(student: StudentConfig) -> dict[str, tuple[int, ...]]:
    """The weights' shapes its settings build, on the meta device (nothing is allocated)."""
    import torch

    with torch.device("meta"):
        return {k: tuple(v.shape) for k, v in student_class(student.kind)(student).state_dict().items()}


def _cap(name: str, meta: dict, student: StudentConfig) -> int:
    """The most bytes `name` can take for a run of this size."""
    items, epochs = meta["items"], meta.get("epochs_done", 0)
    if name == "student.safetensors":
        return _TABLE_OVERHEAD + 8 * sum(int(np.prod(shape)) for shape in _student_params(student).values())
    rows = {"items.parquet": items, "epochs.parquet": epochs, "means.parquet": epochs * items}[name]
    return _TABLE_OVERHEAD + _ROW_BYTES[name] * rows


def _check_sizes(
    meta: dict, config: TrainConfig, student: StudentConfig, chosen: dict[str, zipfile.ZipInfo], bounds: ImportLimits
) -> None:
    """Against the zip's directory, before anything is unpacked: the run's sizes within the host's limits,
    and every file within what a run of its own size can need."""
    if "epochs_done" not in meta:
        raise ImportRefused("The run's run.json does not say how many epochs it trained ('epochs_done').")
    if meta["items"] > bounds.items:
        raise ImportRefused(f"The run has {meta['items']:,} items; this lab takes at most {bounds.items:,}.")
    if config.epochs > bounds.epochs:
        raise ImportRefused(f"The run was set to {config.epochs:,} epochs; this lab allows at most {bounds.epochs:,}.")
    if student.vocab_size != meta["items"]:
        raise ImportRefused(
            f"The run's items ({meta['items']:,}) do not match its student ({student.vocab_size:,} items)."
        )
    total = 0
    for name, info in chosen.items():
        if name in ("run.json", "student.json"):
            continue
        cap = _cap(name, meta, student)
        if info.file_size > cap:
            raise ImportRefused(
                f"The zip's {name} is {info.file_size / 2**20:.1f} MB; a run of {meta['items']:,} items and "
                f"{meta['epochs_done']:,} epochs needs at most {cap / 2**20:.1f} MB."
            )
        total += info.file_size
    if total > MAX_IMPORT_BYTES:
        raise ImportRefused(
            f"The run unpacks to more than {MAX_IMPORT_BYTES >> 20} MB; that is more than any run of this lab."
        )


def _extract(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, cap: int) -> None:
    """Copy one member to disk, at most `cap` bytes (a zip's declared sizes can lie)."""
    total = 0
    try:
        with archive.open(info) as src, open(target, "wb") as dst:
            while chunk := src.read(1 << 20):
                total += len(chunk)
                if total > cap:
                    raise ImportRefused(
                        f"The zip's {target.name} unpacks to more than its run can need ({cap / 2**20:.1f} MB)."
                    )
                dst.write(chunk)
    except (ImportRefused, OSError):
        raise
    except Exception as err:  # CRC errors, an unknown compression, a password: zipfile raises several kinds
        raise ImportRefused(f"The zip's {target.name} cannot be unpacked ({type(err).__name__}).") from None


_TABLE_COLUMNS = {"epochs.parquet": EPOCH_COLUMNS, "items.parquet": ITEM_COLUMNS, "means.parquet": MEANS_COLUMNS}


def _check_table_footer(folder: Path, name: str, max_rows: int, max_bytes: int) -> None:
    """One of a run's tables holds only the lab's columns, at most the run's rows, and at most what a run of this
    size needs once decompressed — told from its footer (and its text, still encoded), before any value is read:
    a 41 KB file can unpack to gigabytes."""
    path = folder / name
    if not path.exists():
        return  # a missing table is the reader's to say (means.parquet is optional)
    problem = parquet_problem(
        path, columns=_TABLE_COLUMNS[name], max_rows=max_rows, max_bytes=max_bytes, max_text_bytes=4 * MAX_ITEM_CHARS
    )
    if problem is not None:
        raise ImportRefused(f"The run's {name} is not usable ({problem}).")


def _check_vocabulary(config: TrainConfig, items: list[str]) -> None:
    """The items are the vocabulary the run's settings name: its label carries the size and a hash of the words
    (core.data.corpus.Vocabulary.label). Without lemmatization the items are those words, in order; lemmatized,
    they are at most that many lemmas (the hash of the words cannot be checked without the words)."""
    label = _LABEL.match(config.vocabulary)
    if label is None:
        return  # a label the lab did not make (a notebook's "default-10000"): nothing to check against
    size = int(label["size"])
    if config.lemmatize is LemmaMode.NONE:
        digest = hashlib.sha256("\n".join(items).encode()).hexdigest()[:8]
        if len(items) != size or digest != label["digest"]:
            raise ImportRefused(
                f"The run's items are not the vocabulary its settings name ('{config.vocabulary[:80]}': "
                f"{size:,} words), so its scores cannot be trusted."
            )
    elif len(items) > size:
        raise ImportRefused(
            f"The run has {len(items):,} items, more than the {size:,} words of the vocabulary its settings name."
        )


def _check_run_folder(
    folder: Path, root: Path, meta: dict, config: TrainConfig, student: StudentConfig, owner: str = ""
) -> str:
    """Every file of an unpacked run is what a run of this lab writes and agrees with run.json; returns the id it will have."""
    check_run_files(folder, meta, config, student)
    wanted = meta["run_id"]
    run_id = wanted if RUN_ID.match(wanted) and ".." not in wanted else f"imported-{time.strftime('%Y%m%d-%H%M%S')}"
    if (root / run_id).exists():
        run_id = f"{run_id[:100]}-imported-{secrets.token_hex(2)}"
    status = meta.get("status") if meta.get("status") in ("finished", "stopped", "interrupted") else "stopped"
    # `imported` marks a run whose scores were not measured here: listed and opened, never reused by a sweep.
    meta = {
        **meta,
        "run_id": run_id,
        "imported": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "owner": owner,
        "shared": False,
        "status": status,
    }
    check_meta(meta, run_id)  # what the listing will read: an import the listing would drop is no import
    (folder / "run.json").write_text(json.dumps(meta, indent=2))
    return run_id


def check_run_files(folder: Path, meta: dict, config: TrainConfig, student: StudentConfig) -> None:
    """A run's files (in `folder`, read and never changed) are what a run of this lab writes, agree with its
    run.json and hold only numbers it can have measured; ImportRefused (or DamagedData) with a sentence otherwise.
    What an import checks after unpacking, and what an export checks before it writes a zip."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file

    label = "in this zip"
    n, done = meta["items"], meta["epochs_done"]
    for name, most in (("epochs.parquet", done), ("items.parquet", n), ("means.parquet", done * n)):
        _check_table_footer(folder, name, most, _cap(name, meta, student))
    epochs = read_table(folder, label, "epochs.parquet", max_rows=done, rows=done)
    items = read_table(folder, label, "items.parquet", max_rows=n, rows=n)
    if epochs["epoch"].to_list() != list(range(1, done + 1)):
        raise ImportRefused("The run's epochs.parquet does not number its epochs 1, 2, 3, …")
    for column in SCORE_RANGES.keys() & set(epochs.columns):
        values = epochs[column].drop_nulls().cast(pl.Float64).to_list()
        try:
            for value in values:
                check_scores({column: value})
        except TypeError as err:
            raise ImportRefused(f"The run's epochs.parquet is not usable ({err}).") from None
    words = items["item"].to_list()
    if any(not isinstance(w, str) or not w or len(w) > MAX_ITEM_CHARS for w in words) or len(set(words)) != n:
        raise ImportRefused(f"The run's items are not distinct words of 1 to {MAX_ITEM_CHARS} characters.")
    splits = items["split"].to_list()
    if any(s not in SPLITS for s in splits) or splits.count("training") != meta["train_size"]:
        raise ImportRefused(
            f"The run's items are not split into {meta['train_size']:,} training and {meta['heldout_size']:,} held-out."
        )
    poisoned = items["poisoned"]
    if poisoned.null_count() or ("poisoned_items" in meta and meta["poisoned_items"] != int(poisoned.sum())):
        raise ImportRefused("The run's poisoned items do not match its run.json.")
    if "loss" in items.columns:
        loss = items["loss"].drop_nulls().cast(pl.Float64).to_numpy()
        if not np.isfinite(loss).all():
            raise ImportRefused("The run's items.parquet holds a 'loss' that is not a finite number.")
    _check_vocabulary(config, words)
    if (folder / "means.parquet").exists():
        means = read_table(folder, label, "means.parquet", max_rows=done * n)
        bad = means.filter(
            ~pl.col("epoch").is_between(1, done)
            | ~pl.col("item_index").is_between(0, n - 1)
            | pl.col("epoch").is_null()
            | pl.col("item_index").is_null()
        )
        if bad.height:
            raise ImportRefused("The run's means.parquet names epochs or items the run does not have.")
        if not np.isfinite(means["mean"].drop_nulls().cast(pl.Float64).to_numpy()).all():
            raise ImportRefused("The run's means.parquet holds means that are not finite numbers (NaN or infinity).")
    # The weights' own shapes, read from the file's header, must be what the settings build — checked before
    # anything is allocated (settings that claim a huge student cannot make the server allocate it).
    try:
        with safe_open(str(folder / "student.safetensors"), framework="pt") as f:
            declared = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as err:  # a damaged header: safetensors raises several kinds
        raise ImportRefused(f"The student's weights cannot be read ({type(err).__name__}).") from None
    if _student_params(student) != declared:
        raise ImportRefused("The student's weights do not match its settings (their shapes differ).")
    model = student_class(student.kind)(student)
    try:
        weights = load_file(folder / "student.safetensors")
        model.load_state_dict(weights)
    except Exception as err:  # safetensors / torch raise several kinds
        raise ImportRefused(f"The student's weights do not match its settings ({type(err).__name__}).") from None
    if not all(bool(torch.isfinite(w).all()) for w in weights.values() if w.is_floating_point()):
        raise ImportRefused("The student's weights hold numbers that are not finite (NaN or infinity).")


def check_as_imported(folder: Path, meta: dict, config: TrainConfig) -> None:
    """What `import_run` checks of a run's files, on a run folder already in a store (an export is refused where an
    import elsewhere would be: `core.runs.export.check_exportable`): ImportRefused or DamagedData with a sentence."""
    if "epochs_done" not in meta:
        raise ImportRefused("Its run.json does not say how many epochs it trained ('epochs_done').")
    with open(folder / "student.json", "rb") as f:
        student = _student_config(f.read(_MAX_STUDENT_JSON + 1))
    _check_meta_scores(meta)
    check_run_files(folder, meta, config, student)
