"""Take a student away, and bring a run back.

- `export_static(stored, folder)`: the run's student as a sentence-transformers model folder that
  `SentenceTransformer(path)` loads offline — a `StaticEmbedding` (one vector per vocabulary item: the
  student's answer for it, for the held-out items too) with a word-level tokenizer, then `Normalize`. A text
  of several words gets the normalized mean of their vectors; a word outside the run's vocabulary adds
  nothing (it maps to a zero row). Every student exports this way, generalizing ones as a snapshot of their
  answers on the run's vocabulary. Beside the modules: `run_card.json`.
- `run_card(stored)`: config, teacher, a hash of the data (items, split, poison), metrics.
- `zip_run(stored)` / `import_run(data, root)`: a run folder as one zip, and back. Import reads only the
  run's own file names (JSON, Parquet, safetensors — nothing is unpickled), never extracts a path from the
  archive (no zip-slip), caps the sizes, checks every file (settings, shapes, item counts) before the run
  appears, and gives it a fresh, valid name when its own is taken or unusable.
"""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import shutil
import time
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np
import polars as pl

from core.config import TrainConfig
from core.store import RUN_ID, StoredRun

RUN_FILES = ("run.json", "epochs.parquet", "means.parquet", "items.parquet", "student.json", "student.safetensors")
REQUIRED = {"run.json", "epochs.parquet", "items.parquet", "student.json", "student.safetensors"}
MAX_IMPORT_BYTES = 1 << 30  # 1 GiB unpacked: a 200,000-item 1,024-d run is ~1 GB with its means


class ImportRefused(ValueError):
    """The upload is not a usable run; the message says why. Nothing was written."""


def data_hash(stored: StoredRun) -> str:
    """sha256 of what the run learned from: its items in order, their split and poison flags."""
    h = hashlib.sha256()
    for column in ("item", "split", "poisoned"):
        h.update("\n".join(map(str, stored.items[column].to_list())).encode())
        h.update(b"\x00")
    return h.hexdigest()


def run_card(stored: StoredRun) -> dict:
    meta = stored.meta
    keep = ("run_id", "created", "status", "teacher_id", "items", "train_size", "heldout_size", "poisoned_items", "teacher_queries",
            "epochs_done", "final", "detection_precision", "detection_recall", "cheap_id")
    return {**{k: meta[k] for k in keep if k in meta}, "config": stored.config.to_dict(), "data_sha256": data_hash(stored),
            "exported": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def export_static(stored: StoredRun, folder: Path) -> Path:
    """Write the run's student as a sentence-transformers folder (StaticEmbedding + Normalize)."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, StaticEmbedding
    from tokenizers import Tokenizer, models, pre_tokenizers

    from core.students import student_vectors

    vectors = student_vectors(stored.student()).detach().cpu().numpy().astype(np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    items = [str(i) for i in stored.items["item"].to_list()]
    vocab = {"[UNK]": 0}
    for i, item in enumerate(items):
        vocab.setdefault(item, i + 1)
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    weights = np.vstack([np.zeros((1, vectors.shape[1]), np.float32), vectors])
    model = SentenceTransformer(modules=[StaticEmbedding(tokenizer, embedding_weights=weights), Normalize()], device="cpu")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save(str(folder))
    unreachable = sum(1 for item in items if len(item.split()) != 1)
    card = {**run_card(stored), "format": "sentence-transformers StaticEmbedding + Normalize",
            "how_to_use": "SentenceTransformer(path).encode(texts): each known word's student vector, a text's the normalized mean.",
            "items_with_spaces_not_reachable": unreachable}
    if stored.config.lemmatize.value != "none":
        card["note"] = "Lemmatized run: the model knows lemmas (e.g. 'run', not 'running'); lemmatize texts the same way first."
    (folder / "run_card.json").write_text(json.dumps(card, indent=2))
    return folder


def zip_run(stored: StoredRun) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in RUN_FILES:
            path = stored.folder / name
            if name == "run.json":  # who owned it here is nobody's business elsewhere
                meta = {k: v for k, v in stored.meta.items() if k not in ("owner", "shared")}
                archive.writestr(f"{stored.run_id}/{name}", json.dumps(meta, indent=2))
            elif path.exists():
                archive.write(path, f"{stored.run_id}/{name}")
        archive.writestr(f"{stored.run_id}/run_card.json", json.dumps(run_card(stored), indent=2))
    return buffer.getvalue()


def import_run(data: bytes, root: Path, owner: str = "") -> str:
    """Check a zipped run and add it to the store as `owner`'s (private); returns its id (fresh when
    needed). Raises `ImportRefused` with a sentence, having written nothing, when it is not a usable run."""
    root = Path(root)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise ImportRefused("This is not a zip file; export a run from the Runs page (or `python -m core export`) and upload that.") from None
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
    if sum(i.file_size for i in chosen.values()) > MAX_IMPORT_BYTES:
        raise ImportRefused(f"The run unpacks to more than {MAX_IMPORT_BYTES >> 20} MB; that is more than any run of this lab.")
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".import-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        for name, info in chosen.items():
            with archive.open(info) as src, open(tmp / name, "wb") as dst:
                _copy_limited(src, dst)
        run_id = _check_run_folder(tmp, root, owner)
        tmp.rename(root / run_id)
        return run_id
    except ImportRefused:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, TypeError) as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ImportRefused(f"The run in this zip cannot be used: {str(err).splitlines()[0][:200] if str(err) else type(err).__name__}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _copy_limited(src, dst) -> int:
    """Copy at most MAX_IMPORT_BYTES (a zip's declared sizes can lie)."""
    total = 0
    while chunk := src.read(1 << 20):
        total += len(chunk)
        if total > MAX_IMPORT_BYTES:
            raise ImportRefused(f"The run unpacks to more than {MAX_IMPORT_BYTES >> 20} MB.")
        dst.write(chunk)
    return total


def _check_run_folder(folder: Path, root: Path, owner: str = "") -> str:
    """Every file of an unpacked run is readable and consistent; returns the id it will have."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    from core.students import read_student_config, student_class

    try:
        meta = json.loads((folder / "run.json").read_text())
        if not isinstance(meta, dict):
            raise TypeError
    except (ValueError, TypeError, UnicodeDecodeError):
        raise ImportRefused("The run's run.json is not a JSON object.") from None
    TrainConfig.from_dict(meta.get("config") or {})  # raises a sentence for any setting out of range
    for key in ("items", "train_size", "heldout_size", "teacher_queries"):
        if isinstance(meta.get(key), bool) or not isinstance(meta.get(key), int) or meta[key] < 0:
            raise ImportRefused(f"The run's run.json lacks a valid '{key}'.")
    student = read_student_config(folder)
    items = pl.read_parquet(folder / "items.parquet")
    epochs = pl.read_parquet(folder / "epochs.parquet")
    if not {"item", "split", "poisoned"} <= set(items.columns) or items.height != student.vocab_size:
        raise ImportRefused(f"The run's items ({items.height}) do not match its student ({student.vocab_size} items).")
    if "epoch" not in epochs.columns:
        raise ImportRefused("The run's epochs.parquet has no epoch column.")
    # The weights' own shapes, read from the file's header, must be what the settings build — checked before
    # anything is allocated (settings that claim a huge student cannot make the server allocate it).
    try:
        with safe_open(str(folder / "student.safetensors"), framework="pt") as f:
            declared = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as err:  # a damaged header: safetensors raises several kinds
        raise ImportRefused(f"The student's weights cannot be read ({type(err).__name__}).") from None
    if sum(int(np.prod(shape)) for shape in declared.values()) * 4 > MAX_IMPORT_BYTES:
        raise ImportRefused("The student's weights are larger than any run of this lab.")
    import torch

    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in student_class(student.kind)(student).state_dict().items()}
    if expected != declared:
        raise ImportRefused("The student's weights do not match its settings (their shapes differ).")
    model = student_class(student.kind)(student)
    try:
        model.load_state_dict(load_file(folder / "student.safetensors"))
    except Exception as err:  # safetensors / torch raise several kinds
        raise ImportRefused(f"The student's weights do not match its settings ({type(err).__name__}).") from None
    final = meta.get("final", {})
    if not isinstance(final, dict) or not all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in final.values()):
        raise ImportRefused("The run's final scores are not numbers.")
    for key in ("detection_precision", "detection_recall"):
        if meta.get(key) is not None and (isinstance(meta[key], bool) or not isinstance(meta[key], (int, float))):
            raise ImportRefused(f"The run's {key} is not a number.")
    if not isinstance(meta.get("teacher_id", ""), str) or not isinstance(meta.get("created", ""), str):
        raise ImportRefused("The run's teacher or date is not text.")
    wanted = str(meta.get("run_id", ""))
    run_id = wanted if RUN_ID.match(wanted) and ".." not in wanted else f"imported-{time.strftime('%Y%m%d-%H%M%S')}"
    if (root / run_id).exists():
        run_id = f"{run_id[:100]}-imported-{secrets.token_hex(2)}"
    status = meta.get("status") if meta.get("status") in ("finished", "stopped", "interrupted") else "finished"
    meta.update({"run_id": run_id, "imported": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "owner": owner, "shared": False, "status": status})
    meta.setdefault("created", meta["imported"])
    meta.setdefault("teacher_id", "unknown")
    (folder / "run.json").write_text(json.dumps(meta, indent=2))
    return run_id
