"""A class at once: N browser-like sessions against one running dashboard, each setting up data and
training a small run, while we time how fast the server answers them.

Each session speaks the dashboard's own protocol over its websocket (what a browser tab sends, without
a browser's CPU cost, so the timings are the server's): it opens the Start page, presses "Train my first
students" (since issue 19: the story's pair on the default 10,002 words, the MPNet teacher, the kernel adapter
reading MiniLM's layers and Model B at p = 0.2; hosted, one training per person, so the adapter), lands on the
story's step 3 and then behaves like a tab left open: the live panel refreshes every second (the fragment
re-runs the browser would send, at the interval the page asks for) and every five seconds the user
"clicks" (a full page run). A session is finished when its page has its trained run (the story puts it in
the address, `?runs=`; the Train page says the run was saved).

The server runs in hosted mode with its defaults (one training at a time, one per person; the rest
queue with their position shown) on a fresh lab home where what the class needs was computed once before
it arrives, as a host's `make run` would (`python -m core warm --steps kernels,minilm-words,mpnet-words,
minilm-layers`: the training kernels, MiniLM's and MPNet's vectors of the words, MiniLM's layer features);
the server's own background warm-up is off, so only the class uses its CPUs.

Latency = time from sending a page or fragment run to the server's "finished" for it, over every
request of every session after its setup click. Reference: the same requests with one session alone
(`--sessions 1` gives it; the JSON's `single_session_p95_s` is measured in the same run first).

    .venv/bin/python bench/classroom_load.py --sessions 20      # one JSON line
    .venv/bin/python bench/classroom_load.py --sessions 20 --executor ray   # the trainings as Ray tasks

`--executor ray` serves the same class with `executor = "ray"` (core.runs.executors): the server starts a Ray
instance inside itself with this machine's CPUs (or joins `--ray-address`), and each training is a Ray task in a
worker process; the server's own process only answers pages and follows the tasks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

DONE_TEXT = "saved as run"
DONE_ADDRESS = "runs="  # the story's step 3 puts the person's trained runs in the address
WARM_STEPS = "kernels,minilm-words,mpnet-words,minilm-layers"


class Session:
    """One browser tab, reduced to its protocol."""

    def __init__(self, port: int, name: str):
        self.url = f"ws://127.0.0.1:{port}/_stcore/stream"
        self.name = name
        self.page_hash = ""
        self.query = ""
        self.fragment = ""
        self.interval = 1.0
        self.latencies: list[float] = []
        self.texts: list[str] = []
        self.buttons: dict[str, str] = {}
        self.finished = False
        self.errors: list[str] = []

    async def request(self, ws, widget_states=None, fragment: str = "", timeout: float = 600) -> float:
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string = self.query
        state.page_script_hash = self.page_hash
        if fragment:
            state.fragment_id = fragment
            state.is_auto_rerun = True
        for ws_id, trigger in (widget_states or {}).items():
            w = state.widget_states.widgets.add()
            w.id = ws_id
            w.trigger_value = trigger
        start = time.perf_counter()
        await ws.send(msg.SerializeToString())
        while True:
            fwd = ForwardMsg()
            fwd.ParseFromString(await asyncio.wait_for(ws.recv(), timeout))
            kind = fwd.WhichOneof("type")
            if kind == "new_session":
                self.page_hash = fwd.new_session.page_script_hash or self.page_hash
            elif kind == "page_info_changed":
                self.query = fwd.page_info_changed.query_string
                if DONE_ADDRESS in self.query:
                    self.finished = True
            elif kind == "auto_rerun":  # the page asks the browser to re-run a fragment every `interval` seconds
                self.fragment, self.interval = fwd.auto_rerun.fragment_id, fwd.auto_rerun.interval or 1.0
            elif kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                self._element(fwd.delta.new_element)
            elif kind == "script_finished":
                status = fwd.script_finished
                if status in (ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY):
                    return time.perf_counter() - start
                if status == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                    raise RuntimeError("the page failed to compile")
                # FINISHED_EARLY_FOR_RERUN: a switch_page / st.rerun follows; keep reading

    def _element(self, element) -> None:
        kind = element.WhichOneof("type")
        if kind == "button":
            self.buttons[element.button.id] = element.button.label
        elif kind in ("alert", "markdown"):
            body = getattr(element, kind).body
            self.texts.append(body)
            if DONE_TEXT in body:
                self.finished = True
        elif kind == "exception":
            self.errors.append(element.exception.message[:200])

    def button_id(self, suffix: str) -> str:
        return next(i for i in self.buttons if i.endswith(suffix))

    async def run(self, deadline: float) -> None:
        async with connect(self.url, subprotocols=["streamlit"], max_size=None, open_timeout=60) as ws:
            await self.request(ws)  # the Start page
            setup = time.perf_counter()
            await self.request(ws, {self.button_id("try_it"): True})  # prepare data, queue the training, go to Train
            self.setup_s = time.perf_counter() - setup
            last_click = time.time()
            while not self.finished and time.time() < deadline:
                await asyncio.sleep(self.interval)
                full = time.time() - last_click >= 5 or not self.fragment
                if full:
                    last_click = time.time()
                self.latencies.append(await self.request(ws, fragment="" if full else self.fragment))
            if self.finished:
                self.latencies.append(await self.request(ws))  # the finished page, once


def proc_status(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_mb(pid: int) -> float:
    return proc_status(pid, "VmRSS") / 1024


def child_pids(pid: int) -> set[int]:
    kids: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids.update(int(k) for k in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return kids


def tree(pid: int) -> list[int]:
    """The process and all its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(child_pids(p))
    return out


def children(pid: int) -> int:
    """Child processes of any of the process's threads (Ray's are started by a thread of their own)."""
    return len(child_pids(pid))


def start_server(port: int, home: Path, executor: str = "local", ray_address: str = "") -> subprocess.Popen:
    env = {
        **os.environ,
        "EMBEDDING_LAB_HOME": str(home),
        "EMBEDDING_LAB_HOSTED": "1",
        "EMBEDDING_LAB_WARM": "off",  # computed before the class (main): nothing else competes for the CPUs
        "EMBEDDING_LAB_EXECUTOR": executor,
        "EMBEDDING_LAB_RAY_ADDRESS": ray_address,
    }
    streamlit = Path(sys.executable).with_name("streamlit")
    proc = subprocess.Popen(
        [
            str(streamlit),
            "run",
            "app.py",
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(600):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the dashboard did not start")


async def drive(port: int, n: int, timeout: float) -> list[Session]:
    sessions = [Session(port, f"s{i}") for i in range(n)]
    deadline = time.time() + timeout
    results = await asyncio.gather(*(s.run(deadline) for s in sessions), return_exceptions=True)
    for s, r in zip(sessions, results):
        if isinstance(r, BaseException):
            s.errors.append(f"{type(r).__name__}: {r}")
    return sessions


def p95(values: list[float]) -> float:
    return float(statistics.quantiles(values, n=20)[-1]) if len(values) >= 20 else max(values, default=0.0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--port", type=int, default=8599)
    parser.add_argument("--timeout", type=float, default=900, help="seconds before unfinished sessions give up")
    parser.add_argument("--executor", choices=["local", "ray"], default="local", help="where the trainings run")
    parser.add_argument("--ray-address", default="", help="ray: '' starts Ray inside the server; or auto, HOST:PORT")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "core", "warm", "--steps", WARM_STEPS, "--json"],
            cwd=ROOT,
            env={**os.environ, "EMBEDDING_LAB_HOME": str(home)},
            check=True,
            stdout=subprocess.DEVNULL,
        )
        warm_s = time.perf_counter() - start

        proc = start_server(args.port, home, args.executor, args.ray_address)
        peak, peak_tree = [0.0], [0.0]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], rss_mb(proc.pid))
                peak_tree[0] = max(peak_tree[0], sum(rss_mb(p) for p in tree(proc.pid)))
                time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            single = asyncio.run(drive(args.port, 1, args.timeout))[0]  # the reference: one person alone
            idle_rss = rss_mb(proc.pid)
            time.sleep(3)
            threads_before = proc_status(proc.pid, "Threads")
            start = time.perf_counter()
            sessions = asyncio.run(drive(args.port, args.sessions, args.timeout))
            wall = time.perf_counter() - start
            time.sleep(5)  # every tab is closed: what is left running on the server?
            threads_after, processes_after = proc_status(proc.pid, "Threads"), children(proc.pid)
        finally:
            stop.set()
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        runs = (
            len([p for p in (home / "runs").iterdir() if not p.name.startswith(".")]) if (home / "runs").exists() else 0
        )

    latencies = [x for s in sessions for x in s.latencies]
    setups = [s.setup_s for s in sessions if hasattr(s, "setup_s")]
    print(
        json.dumps(
            {
                "benchmark": "classroom_load",
                "executor": args.executor,
                "sessions": args.sessions,
                "finished": sum(s.finished for s in sessions),
                "requests": len(latencies),
                "p95_latency_s": round(p95(latencies), 3),
                "max_latency_s": round(max(latencies, default=0.0), 3),
                "median_latency_s": round(statistics.median(latencies), 3) if latencies else None,
                "single_session_p95_s": round(p95(single.latencies), 3),
                "single_session_finished": single.finished,
                "setup_click_median_s": round(statistics.median(setups), 2) if setups else None,
                "setup_click_max_s": round(max(setups, default=0), 2),
                "wall_s": round(wall, 1),
                "runs_stored": runs,
                "peak_rss_mb": round(peak[0], 1),
                "peak_rss_with_children_mb": round(peak_tree[0], 1),  # + Ray's processes and workers, if any
                "rss_after_one_session_mb": round(idle_rss, 1),
                "teacher_warm_up_s": round(warm_s, 1),
                "server_threads_before": threads_before,
                "server_threads_after_tabs_closed": threads_after,
                "server_child_processes_after": processes_after,
                "errors": sorted({e for s in sessions for e in s.errors})[:5],
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
