"""Take a student away: the run's student as a sentence-transformers folder that `SentenceTransformer(path)` loads
offline (`export_static`), its card (`run_card`), the whole run as one zip (`zip_run`, `export_zip`). See
`core.runs.takeaway` for what each promises."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import secrets
import shutil
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.errors import DamagedData
from core.runs.importing import RUN_FILES, ImportRefused, check_as_imported
from core.runs.store import StoredRun
from core.words.students import student_vectors

if TYPE_CHECKING:
    pass


class ExportRefused(ValueError):
    """The export cannot be written where it was asked to go, or the run cannot be taken away; the message says
    why. Nothing was overwritten and nothing half-written is left."""


def data_hash(stored: StoredRun) -> str:
    """sha256 of what the run learned from: its items in order, their split and poison flags."""
    h = hashlib.sha256()
    for column in ("item", "split", "poisoned"):
        h.update("\n".join(map(str, stored.items[column].to_list())).encode())
        h.update(b"\x00")
    return h.hexdigest()


def run_card(stored: StoredRun) -> dict:
    meta = stored.meta
    keep = (
        "run_id",
        "created",
        "status",
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
        "cheap_id",
    )
    return {
        **{k: meta[k] for k in keep if k in meta},
        "config": stored.config.to_dict(),
        "data_sha256": data_hash(stored),
        "exported": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


OUTSIDE_THE_TABLE = (
    "a zero vector (norm 0): a word that is not one of the table's words adds nothing, so a text of such words only "
    "gets all zeros; check np.linalg.norm(v) > 0 before you use a vector"
)
GENERALIZING_NOTE = (
    "In the lab this student gives a learnt vector to any word (it computes it from the word); this download keeps "
    "only its answers for the run's words, so a word outside the table gets a zero vector here. Use the lab "
    "(python -m core evaluate --run ...) for other words."
)


def what_the_export_is(stored: StoredRun) -> str:
    """The plain sentence that heads an export's README (and that the CLI prints): a table of the run's words,
    and what a word outside it gets."""
    words = stored.items.height
    text = (
        f"# What this is\n\nThe student of run {stored.run_id} as a fixed table of its {words:,} words only: each of "
        f"those words has the student's vector; any other word gets a zero vector (norm 0), not an estimate."
    )
    if stored.config.model.generalizes:
        text += " " + GENERALIZING_NOTE
    return text


def export_static(stored: StoredRun, folder: Path) -> Path:
    """Write the run's student as a sentence-transformers folder (StaticEmbedding + Normalize): a new folder, or
    an empty one — never one holding files the export did not make (ExportRefused). Written beside the target
    and renamed into place, so a full disk leaves nothing half-written."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, StaticEmbedding
    from tokenizers import Tokenizer, models, pre_tokenizers

    folder = Path(folder)
    _refuse_used_folder(folder, stored.run_id)
    vectors = student_vectors(stored.student()).detach().cpu().numpy().astype(np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    items = [str(i) for i in stored.items["item"].to_list()]
    vocab = {"[UNK]": 0}
    for i, item in enumerate(items):
        vocab.setdefault(item, i + 1)
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    weights = np.vstack([np.zeros((1, vectors.shape[1]), np.float32), vectors])
    model = SentenceTransformer(
        modules=[StaticEmbedding(tokenizer, embedding_weights=weights), Normalize()], device="cpu"
    )
    unreachable = sum(1 for item in items if len(item.split()) != 1)
    card = {
        **run_card(stored),
        "format": "sentence-transformers StaticEmbedding + Normalize",
        "how_to_use": "SentenceTransformer(path).encode(texts): each known word's student vector, a text's the normalized mean.",
        "items_with_spaces_not_reachable": unreachable,
        "table_of_words": len(items),
        "word_outside_the_table": OUTSIDE_THE_TABLE,
    }
    if stored.config.model.generalizes:
        card["generalizing_student"] = GENERALIZING_NOTE
    if stored.config.lemmatize.value != "none":
        card["note"] = (
            "Lemmatized run: the model knows lemmas (e.g. 'run', not 'running'); lemmatize texts the same way first."
        )
    with _export_writing(folder):
        # An empty target (perhaps the current folder) is filled from a temporary folder inside it; a new one is
        # the temporary folder, renamed.
        inside = folder.exists()
        if not inside:
            folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = (folder if inside else folder.parent) / f".{folder.name or 'export'}.export-{secrets.token_hex(4)}"
        try:
            tmp.mkdir()
            model.save(str(tmp))
            readme = tmp / "README.md"
            before = readme.read_text() if readme.exists() else ""
            readme.write_text(with_note(before, what_the_export_is(stored)))
            (tmp / "run_card.json").write_text(json.dumps(card, indent=2))
            if inside:
                for entry in sorted(tmp.iterdir()):
                    entry.rename(folder / entry.name)
                tmp.rmdir()
            else:
                tmp.rename(folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return folder


def with_note(readme: str, note: str) -> str:
    """`readme` with `note` at its top, but after YAML front matter when it opens with some (the model card
    sentence-transformers writes: the Hugging Face Hub reads it only as the file's very first thing).

    >>> with_note("---\\nlicense: mit\\n---\\n# Model", "A note.")
    '---\\nlicense: mit\\n---\\n\\nA note.\\n\\n# Model'
    """
    if readme.startswith("---"):
        lines = readme.splitlines(keepends=True)
        end = next((i for i in range(1, len(lines)) if lines[i].rstrip("\r\n") == "---"), None)
        if end is not None:
            head, rest = "".join(lines[: end + 1]).rstrip("\n"), "".join(lines[end + 1 :]).lstrip("\n")
            return head + "\n\n" + note + "\n\n" + rest
    return note + "\n\n" + readme


def export_zip(stored: StoredRun, target: Path) -> Path:
    """Write the run as a zip (`zip_run`) to a new file `target`, in a folder that exists: written to a temporary
    file beside it and renamed, so a full disk leaves no truncated zip. ExportRefused, having written nothing, when
    the target is a folder or an existing file, or when another lab's import would refuse the run (`check_exportable`)."""
    target = Path(target)
    with _export_writing(target):
        if target.is_dir():
            raise ExportRefused(
                f"{target} is a folder; give the zip file's name, e.g. {target / (stored.run_id + '.zip')}."
            )
        if target.exists() or target.is_symlink():
            raise ExportRefused(f"{target} already exists; give a new file name, or delete that file first.")
        if not target.parent.is_dir():
            raise ExportRefused(
                f"The folder {target.parent} does not exist; create it first, or give a zip file in a folder that exists."
            )
    check_exportable(stored)
    data = zip_run(stored)
    with _export_writing(target):
        tmp = target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp"
        try:
            with open(tmp, "xb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())  # a full disk may only say so here: before the zip takes its name
            if target.exists():
                raise ExportRefused(f"{target} appeared while the zip was written; nothing was overwritten.")
            tmp.rename(target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return target


def check_exportable(stored: StoredRun) -> None:
    """The checks an import makes of the run's files, made before its zip is written: a run whose zip another
    lab would refuse (weights or means damaged or missing, numbers out of range) is ExportRefused here."""
    meta = {k: v for k, v in stored.meta.items() if k not in ("owner", "shared")}
    try:
        check_as_imported(stored.folder, meta, stored.config)
    except DamagedData as err:
        why = f"its {getattr(err, 'file', 'files')} is not usable ({getattr(err, 'why', str(err))})"
        raise _unexportable(stored, why) from None
    except ImportRefused as err:
        text = str(err).rstrip(".")
        raise _unexportable(stored, text[:1].lower() + text[1:]) from None
    except OSError as err:
        raise _unexportable(stored, f"its files cannot be read ({err.strerror or type(err).__name__})") from None


def _unexportable(stored: StoredRun, why: str) -> ExportRefused:
    why = " ".join(why.split())[:300]
    return ExportRefused(
        f"The run {stored.run_id} cannot be exported as a zip that another lab would accept: {why}. "
        "Delete the run, or train it again."
    )


def _refuse_used_folder(folder: Path, run_id: str) -> None:
    """An export writes a new folder or fills an empty one; a file, or a folder holding anything, is refused."""
    with _export_writing(folder):
        if folder.exists() and not folder.is_dir():
            raise ExportRefused(f"{folder} is a file; give the name of a new folder to export into.")
        if folder.is_dir():
            names = sorted(p.name for p in folder.iterdir())
            if names:
                shown = ", ".join(names[:3]) + (", …" if len(names) > 3 else "")
                raise ExportRefused(
                    f"The folder {folder.resolve()} already holds files ({shown}) and an export never writes over "
                    f"them; give a new or empty folder instead, e.g. {folder / run_id}."
                )


@contextlib.contextmanager
def _export_writing(target: Path) -> Iterator[None]:
    """Any OS error met while writing an export (no such folder, no permission, /proc, a full disk) becomes one
    ExportRefused sentence naming the place."""
    try:
        yield
    except OSError as err:
        full = err.errno in (errno.ENOSPC, errno.EDQUOT)
        why = "the disk is full" if full else (err.strerror or type(err).__name__).lower()
        fix = "free some disk space or choose another place" if full else "choose another place"
        raise ExportRefused(f"The export cannot be written to {target or '.'} ({why}); {fix}.") from None


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
