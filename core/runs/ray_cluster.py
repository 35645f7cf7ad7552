"""The ray executor: batches as Ray tasks on a cluster (see `core.runs.executors` for what both executors promise).

Each batch is one task; the tasks write their run folders themselves with the same journal and checkpoints as a local
run; a small actor (the mailbox) carries what each attempt started, journaled and trained, and Stop; a worker that
dies is retried, its half-written run kept as interrupted until the retry stores it whole (`_Attempts`). Ray is
imported only here, and only when used (`import_ray`: a sentence when it is not installed)."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from core.config import LemmaMode, TrainConfig
from core.errors import LabError
from core.runs.batches import BatchResult, RunResult, train_batch
from core.runs.experiment import PreparedData, TrainingRun
from core.runs.hosting import RAY_REQUIREMENT
from core.runs.store import delete_run, live_folder, recover_one
from core.words.train import EpochRecord

RAY_RETRIES = 2  # a task whose worker dies is run again this many times
DEFAULT_CHECKPOINT_SECONDS = 30.0  # a task always journals and checkpoints: nothing is lost with its worker
POLL_SECONDS = 0.2  # how often the server looks at its tasks and the mailbox
STOP_POLL_SECONDS = 0.5  # how often a task asks whether it should stop (at most; between epochs)
STOP_GRACE_SECONDS = 30.0  # after Stop, how long a running task may take to end its epoch before it is cancelled
CONNECT_TIMEOUT_SECONDS = 5.0
# Ray started inside this process ('local': one machine, often a busy laptop) is a single node, and Ray's defaults
# declare a node dead after a few missed health checks (~10 s each): under a load of 5-10 its raylet can miss them,
# and a raylet marked dead exits, taking this process (its driver) with it. One machine gains nothing from noticing
# that quickly: the checks here allow minutes, and a worker process starting under load gets minutes to register.
LOCAL_SYSTEM_CONFIG = {
    "health_check_initial_delay_ms": 30_000,
    "health_check_period_ms": 10_000,
    "health_check_timeout_ms": 60_000,
    "health_check_failure_threshold": 30,
    "worker_register_timeout_seconds": 600,
}


class RayUnavailable(LabError, RuntimeError):
    """The ray executor cannot be used here (Ray is not installed, or its cluster cannot be reached)."""


class WorkerLost(LabError, RuntimeError):
    """Every attempt at some runs died with its Ray worker; their epochs are kept as interrupted runs."""


def ray_installed() -> bool:
    return importlib.util.find_spec("ray") is not None


class _Mailbox:
    """A Ray actor between the server and its tasks: what each task started and trained, and who must stop."""

    def __init__(self) -> None:
        self._events: dict[str, list] = {}
        self._stopped: set[str] = set()

    def post(self, key: str, event: tuple) -> bool:
        self._events.setdefault(key, []).append(event)
        return True

    def drain(self, key: str) -> list:
        return self._events.pop(key, [])

    def stop(self, key: str) -> None:
        self._stopped.add(key)

    def stopped(self, key: str) -> bool:
        return key in self._stopped

    def forget(self, key: str) -> None:
        self._events.pop(key, None)
        self._stopped.discard(key)


class _StopFlag:
    """A task's `should_stop`: asks the mailbox at most every STOP_POLL_SECONDS (training checks between epochs)."""

    def __init__(self, box, key: str):
        self.box, self.key, self.value, self.asked = box, key, False, 0.0

    def __call__(self) -> bool:
        if not self.value and time.monotonic() - self.asked >= STOP_POLL_SECONDS:
            import ray

            self.asked = time.monotonic()
            try:
                self.value = bool(ray.get(self.box.stopped.remote(self.key), timeout=10))
            except Exception:  # the mailbox is gone (its server died): train on, the journal keeps the epochs
                pass
        return self.value


def _train_on_worker(
    batch: list[TrainConfig],
    data: PreparedData,
    runs_root: str,
    device: str,
    checkpoint_every: float,
    extra: dict | None,
    home: str | None,
    cache_root: str | None,
    box,
    key: str,
    index: int,
    stream_epochs: bool,
) -> list[RunResult]:
    """The Ray task: `train_batch` on a worker, telling the mailbox what it does (every attempt anew)."""
    import ray

    if home:  # the lab's home as the server sees it (shared storage: the same path here)
        os.environ["EMBEDDING_LAB_HOME"] = home
    attempt, host = secrets.token_hex(4), socket.gethostname()
    ray.get(box.post.remote(key, ("begin", index, attempt, os.getpid(), host)))
    extra = {**(extra or {}), "executor": "ray", "worker_host": host}  # kept in run.json: where it trained

    def journal(runs: list[TrainingRun]) -> None:
        ids = [r.planned_id for r in runs]  # the ids their journals and checkpoints are written under
        ray.get(box.post.remote(key, ("journal", index, attempt, ids)))

    def epoch(i: int, record: EpochRecord) -> None:
        box.post.remote(key, ("epoch", index, attempt, i, replace(record, embedding_means=None)))

    runs = train_batch(
        batch,
        data,
        Path(runs_root),
        device=device,
        should_stop=_StopFlag(box, key),
        checkpoint_every=checkpoint_every,
        extra=extra,
        cache_root=Path(cache_root) if cache_root else None,
        on_journal=journal,
        on_epoch=epoch if stream_epochs else None,
    )
    return [RunResult.of(r, keep_means=False) for r in runs]


_ray_lock = threading.Lock()
_ray_keeper: threading.Thread | None = None


def import_ray():
    # Never let Ray start a cluster by itself: a call after `ray.shutdown()` (a job thread still following its tasks)
    # would start a second one inside this process. Only `connect_ray` connects. (Read by Ray when first imported.)
    os.environ.setdefault("RAY_ENABLE_AUTO_CONNECT", "0")
    try:
        import ray
    except ImportError:
        raise RayUnavailable(
            f"The ray executor needs Ray, which is not installed here: `pip install {RAY_REQUIREMENT}` (on this "
            "server and on every worker), or use the local executor."
        ) from None
    return ray


def _reachable(address: str) -> None:
    """A cluster address 'HOST:PORT' (or 'ray://HOST:PORT') answers on TCP; a sentence when it does not."""
    target = address.split("://", 1)[-1]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise RayUnavailable(
            f"The Ray address {address!r} is not HOST:PORT (e.g. 10.0.0.5:6379), 'auto' or 'local'; fix ray_address."
        )
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_SECONDS).close()
    except OSError as err:
        raise RayUnavailable(
            f"The Ray cluster at {address} cannot be reached ({err.strerror or type(err).__name__}); start it "
            "(`ray start --head` on that machine) or fix ray_address."
        ) from None


def connect_ray(address: str = "", num_cpus: int | None = None):
    """Ray, connected once per process: '' or 'local' starts Ray inside this process (one machine), 'auto' joins the
    cluster `ray start` runs on this machine, 'HOST:PORT' another machine's. Already connected: as it is.

    Ray started here lives as long as the thread that started it (its processes die with that thread), so a
    thread of its own starts it and stays."""
    global _ray_keeper
    ray = import_ray()
    with _ray_lock:
        if ray.is_initialized():
            return ray
        address = (address or "local").strip()
        if address not in ("local", "auto"):
            _reachable(address)
        options = {"address": address, "logging_level": "WARNING", "log_to_driver": False}
        if address == "local":
            options.update(num_cpus=num_cpus, include_dashboard=False, _system_config=dict(LOCAL_SYSTEM_CONFIG))
        outcome: dict = {}
        ready = threading.Event()

        def start() -> None:
            try:
                ray.init(**options)
            except Exception as err:  # noqa: BLE001 - reported as a sentence below
                outcome["error"] = err
            ready.set()
            if "error" not in outcome:
                threading.Event().wait()  # keep Ray's processes alive with this thread

        if threading.current_thread() is threading.main_thread():
            try:
                ray.init(**options)
            except Exception as err:  # noqa: BLE001
                outcome["error"] = err
        else:
            _ray_keeper = threading.Thread(target=start, name="ray-keeper", daemon=True)
            _ray_keeper.start()
            ready.wait()
        if "error" in outcome:
            err = outcome["error"]
            where = "inside this server" if address == "local" else f"at {address}"
            raise RayUnavailable(
                f"The Ray cluster {where} cannot be used ({' '.join(str(err).split())[:200]}); check ray_address, "
                "and that this machine has the cluster's token if it uses one (`ray get-auth-token`)."
            ) from None
        return ray


class RayExecutor:
    """Batches as Ray tasks on a cluster (see the module's docstring)."""

    name = "ray"
    connecting = "Connecting to the Ray cluster…"

    def __init__(
        self,
        address: str = "",
        cpus_per_run: float = 1.0,
        gpus_per_run: float = 0.0,
        retries: int = RAY_RETRIES,
        in_flight: int | None = None,
        stop_grace: float = STOP_GRACE_SECONDS,
    ):
        self.address = address
        self.cpus_per_run = float(cpus_per_run)
        self.gpus_per_run = float(gpus_per_run)
        self.retries = int(retries)
        self.in_flight = in_flight
        self.stop_grace = stop_grace
        self._box = None
        self._task = None
        self._lock = threading.Lock()
        self._workers: dict[tuple[str, int], int] = {}  # (run key, batch) -> pid of the attempt running it

    def connect(self):
        """Connect (once) and make the mailbox; RayUnavailable with a sentence when that cannot be done."""
        with self._lock:
            ray = connect_ray(self.address)
            if self._box is None:
                self._box = ray.remote(_Mailbox).options(num_cpus=0, max_concurrency=1).remote()
                self._task = ray.remote(_train_on_worker)
            if self.in_flight is None:
                cpus = float(ray.cluster_resources().get("CPU", 1.0))
                by_cpu = int(cpus // self.cpus_per_run) if self.cpus_per_run > 0 else 1
                gpus = float(ray.cluster_resources().get("GPU", 0.0))
                by_gpu = int(gpus // self.gpus_per_run) if self.gpus_per_run > 0 else by_cpu
                self.in_flight = max(1, min(by_cpu, by_gpu))
            return ray

    def workers(self) -> dict[tuple[str, int], int]:
        """The processes training right now: (run key, batch index) -> pid (for a person, or a test, to look at)."""
        return dict(self._workers)

    def run(
        self,
        batches: Sequence[Sequence[TrainConfig]],
        prepared: Mapping[LemmaMode, PreparedData],
        runs_root: Path,
        *,
        device: str | None = None,
        should_stop: Callable[[], bool] | None = None,
        checkpoint_every: float | None = None,
        extra: dict | None = None,
        cache_root: Path | None = None,
        on_begin: Callable[[int], None] | None = None,
        on_epoch: Callable[[int, int, EpochRecord], None] | None = None,
        on_phase: Callable[[str], None] | None = None,
    ) -> Iterator[BatchResult]:
        """Train `batches` as Ray tasks; yields each batch as it ends (in the order they end)."""
        say = on_phase or (lambda text: None)
        if self._box is None:
            say("Connecting to the Ray cluster…")
        ray = self.connect()
        from ray.exceptions import RayError, RayTaskError, TaskCancelledError

        runs_root = Path(runs_root)
        key = uuid.uuid4().hex
        device = device or ("cuda" if self.gpus_per_run > 0 else "cpu")
        checkpoint_every = DEFAULT_CHECKPOINT_SECONDS if checkpoint_every is None else checkpoint_every
        home = os.environ.get("EMBEDDING_LAB_HOME")
        task = self._task.options(
            num_cpus=self.cpus_per_run,
            num_gpus=self.gpus_per_run,
            max_retries=self.retries,
            retry_exceptions=False,
        )
        todo = deque(enumerate(batches))
        data_refs: dict = {}
        running: dict = {}  # object ref -> batch index
        state = _Attempts(runs_root)
        stopping_since: float | None = None
        error: BaseException | None = None
        last = time.perf_counter()

        def stop_all() -> None:
            with contextlib.suppress(Exception):
                ray.get(self._box.stop.remote(key), timeout=10)
            for ref, index in list(running.items()):
                if index not in state.current:  # still waiting for a worker: it never starts
                    with contextlib.suppress(Exception):
                        ray.cancel(ref)

        def follow() -> None:
            try:
                events = ray.get(self._box.drain.remote(key), timeout=10)
            except Exception:  # noqa: BLE001 - the mailbox answers next time
                return
            for event in events:
                kind, index, attempt = event[0], event[1], event[2]
                if kind == "begin":
                    if state.begin(index, attempt) and on_begin is not None:
                        on_begin(index)
                    self._workers[(key, index)] = event[3]
                elif kind == "journal":
                    state.journal(index, attempt, event[3])
                elif kind == "epoch" and on_epoch is not None and state.current.get(index) == attempt:
                    on_epoch(index, event[3], event[4])

        try:
            if not todo:
                return
            say("Waiting for a free Ray worker…")
            while todo or running:
                if not ray.is_initialized():  # disconnected under us (`ray.shutdown()` elsewhere): never reconnect
                    raise RayUnavailable(
                        "This process was disconnected from the Ray cluster while its runs trained; each keeps its "
                        "journaled epochs (recovered as interrupted when the lab starts again): run the same sweep again."
                    )
                if stopping_since is None and should_stop is not None and should_stop():
                    stopping_since = time.monotonic()
                    stop_all()
                while todo and stopping_since is None and len(running) < self.in_flight:
                    index, batch = todo.popleft()
                    mode = batch[0].lemmatize
                    if mode not in data_refs:  # the prepared data goes to the object store once per run of `run`
                        data_refs[mode] = ray.put(prepared[mode])
                    ref = task.remote(
                        list(batch),
                        data_refs[mode],
                        str(runs_root),
                        device,
                        checkpoint_every,
                        extra,
                        home,
                        None if cache_root is None else str(cache_root),
                        self._box,
                        key,
                        index,
                        on_epoch is not None,
                    )
                    running[ref] = index
                if not running:
                    break
                if stopping_since is not None and time.monotonic() - stopping_since > self.stop_grace:
                    for ref in running:  # an epoch that will not end: interrupt it (its finished epochs are saved)
                        with contextlib.suppress(Exception):
                            ray.cancel(ref)
                    stopping_since = time.monotonic() + 3600  # once
                ready, _ = ray.wait(list(running), num_returns=len(running), timeout=POLL_SECONDS, fetch_local=False)
                follow()
                for ref in ready:
                    index = running.pop(ref)
                    self._workers.pop((key, index), None)
                    try:
                        results = ray.get(ref)
                    except TaskCancelledError:
                        state.cancelled(index)
                        continue
                    except RayTaskError as err:  # the training itself raised: stop the rest, raise it
                        state.cancelled(index)
                        if error is None:
                            error = err.cause if isinstance(err.cause, BaseException) else err
                        if stopping_since is None:
                            stopping_since = time.monotonic()
                            stop_all()
                        continue
                    except RayError:  # every attempt died with its worker (or its node)
                        state.lost(index)
                        continue
                    state.finished(index, results)
                    now = time.perf_counter()
                    yield BatchResult(index, tuple(results), now - last)
                    last = now
        finally:
            connected = ray.is_initialized()
            if running and connected:  # closed early (Stop, Ctrl-C, an error): the tasks stop too, keeping their epochs
                self._wind_down(ray, key, running, state, stop_all)
            if connected:
                with contextlib.suppress(Exception):
                    self._box.forget.remote(key)
            for index in list(running.values()):
                self._workers.pop((key, index), None)
        if error is not None:
            raise error
        if state.kept:
            raise WorkerLost(
                f"{len(state.kept)} run(s) lost their Ray worker on every attempt; each is kept as interrupted with "
                f"its finished epochs ({', '.join(state.kept[:5])}{'…' if len(state.kept) > 5 else ''}); run the same "
                "sweep again to train them."
            )

    def _wind_down(self, ray, key: str, running: dict, state: _Attempts, stop_all) -> None:
        stop_all()
        deadline = time.monotonic() + self.stop_grace
        while running and time.monotonic() < deadline:
            ready, _ = ray.wait(list(running), num_returns=len(running), timeout=POLL_SECONDS, fetch_local=False)
            for ref in ready:
                index = running.pop(ref)
                try:
                    state.finished(index, ray.get(ref))
                except Exception:  # noqa: BLE001 - cancelled or lost: its journal keeps its epochs
                    state.cancelled(index)
        for ref in running:
            with contextlib.suppress(Exception):
                ray.cancel(ref)


class _Attempts:
    """Which attempt of each batch is the live one, and the runs each attempt journaled; cleans up after the dead."""

    def __init__(self, runs_root: Path):
        self.runs_root = runs_root
        self.current: dict[int, str] = {}  # batch -> its latest attempt
        self.ids: dict[tuple[int, str], list[str]] = {}  # (batch, attempt) -> run ids it journals
        self.superseded: dict[int, list[str]] = {}  # batch -> runs of dead attempts, kept as interrupted
        self.kept: list[str] = []  # runs kept as interrupted because every attempt died

    def begin(self, index: int, attempt: str) -> bool:
        previous = self.current.get(index)
        if previous == attempt:
            return False
        if previous is not None:  # Ray runs the batch again: the previous attempt's process is gone
            self.superseded.setdefault(index, []).extend(self._keep(index, previous))
        self.current[index] = attempt
        return True

    def journal(self, index: int, attempt: str, ids: list[str]) -> None:
        self.ids[(index, attempt)] = list(ids)

    def finished(self, index: int, results) -> None:
        """A complete attempt: the runs of the dead ones before it are replaced by its own (same settings)."""
        for run_id in self.superseded.pop(index, []):
            with contextlib.suppress(Exception):
                delete_run(self.runs_root, run_id)

    def cancelled(self, index: int) -> None:
        self.superseded.pop(index, None)  # kept as interrupted: nothing replaces them

    def lost(self, index: int) -> None:
        attempt = self.current.get(index)
        kept = self.superseded.pop(index, [])
        if attempt is not None:
            kept += self._keep(index, attempt)
        self.kept.extend(kept)

    def _keep(self, index: int, attempt: str) -> list[str]:
        """Store a dead attempt's journaled runs as interrupted (`core.runs.store`'s recovery, run by run)."""
        kept = []
        for run_id in self.ids.pop((index, attempt), []):
            live = live_folder(self.runs_root, run_id)
            try:
                if live.exists():
                    kept += recover_one(self.runs_root, live, run_id)
                elif (self.runs_root / run_id / "run.json").exists():
                    kept.append(run_id)
            except Exception:  # noqa: BLE001 - a damaged checkpoint stays for a person (and recover_interrupted)
                continue
        return kept
