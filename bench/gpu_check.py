"""The prepared GPU check: every training path on the device against the CPU reference (the tests marked
`cuda`), then the sweep-grid benchmark on that device. Prints ONE JSON line; exits 1 if anything failed.

    make gpu-check                 # on a machine with a CUDA GPU (about 2 minutes on one H100)
    make gpu-check DEVICE=cpu      # the dry run CI does: the same tests and a one-repeat quick grid on the CPU

The tests read the device from $EMBEDDING_LAB_CHECK_DEVICE; on the CPU they compare the CPU run of each path
with the CPU reference, so the dry run exercises the very code the GPU run does.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _counts(output: str) -> dict[str, int]:
    """pytest's last line ('3 passed, 1 skipped in 2.1s') as numbers."""
    tail = output.strip().splitlines()[-1] if output.strip() else ""
    return {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped|error|errors|deselected)", tail)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:1, mps, or cpu for the dry run")
    parser.add_argument("--timeout", type=int, default=420, help="seconds for the whole check (default 420: 7 minutes)")
    args = parser.parse_args()
    if not re.fullmatch(r"cpu|mps|cuda(:\d+)?", args.device):
        parser.error(f"--device must be cpu, mps or cuda[:N], got {args.device!r}")
    started = time.perf_counter()
    env = {**os.environ, "EMBEDDING_LAB_CHECK_DEVICE": args.device}
    result: dict = {"benchmark": "gpu_check", "device": args.device}
    try:
        import torch

        result["torch"] = torch.__version__
        if args.device.startswith("cuda") and torch.cuda.is_available():
            result["gpu"] = torch.cuda.get_device_name(args.device)
    except Exception as err:  # the JSON line says why rather than a traceback
        result["torch_error"] = f"{type(err).__name__}: {err}"

    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider", "--durations=0", "tests"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=args.timeout,
    )
    counts = _counts(tests.stdout)
    result["tests"] = counts
    result["tests_seconds"] = round(time.perf_counter() - started, 1)
    ok = tests.returncode == 0 and counts.get("passed", 0) > 0
    if not ok:
        result["tests_output_tail"] = (tests.stdout + tests.stderr)[-1500:]

    left = max(30, args.timeout - int(time.perf_counter() - started))
    bench_args = ["--quick", "--device", args.device] + (["--repeats", "1"] if args.device == "cpu" else [])
    bench = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "train_grid.py"), *bench_args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=left,
    )
    try:
        grid = json.loads(bench.stdout.strip().splitlines()[-1])
        keys = (
            "grid_seconds",
            "single_seconds",
            "reference_seconds",
            "speedup",
            "max_final_loss_diff",
            "runs",
            "epochs",
        )
        result["train_grid_quick"] = {k: grid.get(k) for k in keys}
    except (IndexError, ValueError):
        ok = False
        result["train_grid_error"] = (bench.stdout + bench.stderr)[-1500:]
    result["ok"] = ok and bench.returncode == 0
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except subprocess.TimeoutExpired as err:
        print(
            json.dumps(
                {"benchmark": "gpu_check", "ok": False, "error": f"ran past its limit: {' '.join(err.cmd[-4:])}"}
            )
        )
        sys.exit(1)
