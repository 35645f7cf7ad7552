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

`--lesson` drives a whole lesson instead (issue 30), with sign-in: the server has `login = true` against a real OpenID
Connect provider started here on 127.0.0.1 (oidc-provider-mock, as tests/e2e/test_signin.py), and a teacher named in
lab.toml. The teacher signs in and sets a challenge on the Challenge page (the default words and MPNet, named in the
address as a teacher's link would; budget 100 answers). Then every student at once: signs in through the provider's
own form (the Sign in button's redirect, the form, the callback: plain HTTP with the cookies a browser keeps), opens
Start ("join"), presses Try it and waits as above until the story has their pair, opens the Challenge page and presses
"Train and submit" (Model B, p = budget / words, 20 epochs, in one of the host's training slots). Meanwhile the
teacher's tab reloads the class board and the Challenge page every 5 s. Page latency is over every page and fragment
run but the two clicks that train (Try it, Train and submit), whose waits are reported apart. At the end the
leaderboard is checked against the lab's own files: one row per student, each the best of their submissions, none over
the budget, no run that asked the teacher about a hidden word.

    .venv/bin/python bench/classroom_load.py --lesson --sessions 30    # one JSON line
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
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

    def __init__(self, port: int, name: str, cookie: str = ""):
        self.url = f"ws://127.0.0.1:{port}/_stcore/stream"
        self.name = name
        self.cookie = cookie  # the signed-in browser's cookies (lesson mode)
        self.page_hash = ""
        self.page_name = ""
        self.auth_url = ""
        self.query = ""
        self.fragment = ""
        self.interval = 1.0
        self.latencies: list[float] = []
        self.kinds: list[str] = []  # what each latency was: "story step 3 (live panel)", "start (joining)", ...
        self.texts: list[str] = []
        self.buttons: dict[str, str] = {}
        self.finished = False
        self.errors: list[str] = []

    async def request(self, ws, widget_states=None, fragment: str = "", timeout: float = 600) -> float:
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string = self.query
        state.page_script_hash = self.page_hash
        state.page_name = self.page_name
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
            elif kind == "navigation":  # st.navigation names the page that ran: a click reruns that one
                self.page_hash = fwd.navigation.page_script_hash or self.page_hash
            elif kind == "auth_redirect":  # st.login: the browser would go there
                self.auth_url = fwd.auth_redirect.url
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

    def note(self, kind: str, seconds: float) -> None:
        self.latencies.append(seconds)
        self.kinds.append(kind)

    def button_id(self, suffix: str) -> str:
        return next(i for i in self.buttons if i.endswith(suffix))

    def connect(self):
        """The tab's websocket; signed in, as a browser opens it: its cookies, its origin, and the XSRF cookie's token
        as the second subprotocol (Streamlit reads the sign-in cookie only then)."""
        if not self.cookie:
            return connect(self.url, subprotocols=["streamlit"], max_size=None, open_timeout=120)
        xsrf = next((c.split("=", 1)[1] for c in self.cookie.split("; ") if c.startswith("_streamlit_xsrf=")), "")
        return connect(
            self.url,
            subprotocols=["streamlit", xsrf],
            max_size=None,
            open_timeout=120,
            origin=self.url.replace("ws://", "http://").split("/_stcore")[0],
            additional_headers={"Cookie": self.cookie},
        )

    async def open_page(self, ws, page: str, query: str = "") -> float:
        """What a click in the sidebar does: another page (its address name), the address's query."""
        self.page_hash, self.page_name, self.query = "", page, query
        self.buttons.clear()
        return await self.request(ws)

    async def run(self, deadline: float) -> None:
        async with self.connect() as ws:
            await self.request(ws)  # the Start page
            await self.try_it(ws, deadline)

    async def try_it(self, ws, deadline: float) -> None:
        """Press Try it, then sit on the page as an open tab does until it has the trained pair."""
        setup = time.perf_counter()
        await self.request(ws, {self.button_id("try_it"): True})  # prepare data, queue the training, go to Train
        self.setup_s = time.perf_counter() - setup
        last_click = time.time()
        while not self.finished and time.time() < deadline:
            await asyncio.sleep(self.interval)
            full = time.time() - last_click >= 5 or not self.fragment
            if full:
                last_click = time.time()
            self.note(
                "story step 3" if full else "story step 3 (live panel)",
                await self.request(ws, fragment="" if full else self.fragment),
            )
        if self.finished:
            self.note("story step 3 (the pair shown)", await self.request(ws))  # the finished page, once
        self.try_it_s = time.perf_counter() - setup
        self.try_it_done_at = time.perf_counter()

    async def sign_in(self, base: str, subject: str) -> None:
        """The sign-in page's button, then the provider's form, as a browser would: this tab's cookies after it."""
        start = time.perf_counter()
        async with self.connect() as ws:
            await self.request(ws)
            await self.request(ws, {self.button_id("login_default"): True})
        if not self.auth_url:
            raise RuntimeError("the Sign in button did not send the browser to the identity provider")
        self.cookie = await asyncio.to_thread(sign_in_over_http, base, self.auth_url, subject)
        self.sign_in_s = time.perf_counter() - start
        self.buttons.clear()

    async def lesson(self, base: str, deadline: float, challenge_set: asyncio.Event) -> None:
        """A student's lesson: sign in, join (Start), Try it, then train and submit a run for the challenge."""
        await self.sign_in(base, self.name)
        async with self.connect() as ws:
            self.note("start (joining)", await self.request(ws))  # Start: joining the class
            if any(label == "Sign in" for label in self.buttons.values()):
                raise RuntimeError("still asked to sign in after the provider's form")
            await self.try_it(ws, deadline)
            await asyncio.wait_for(challenge_set.wait(), max(1.0, deadline - time.time()))
            self.note("challenge page", await self.open_page(ws, "leaderboard"))
            start = self.submit_at = time.perf_counter()
            await self.request(ws, {self.button_id("lb_train"): True}, timeout=max(1.0, deadline - time.time()))
            self.submit_s = time.perf_counter() - start
            self.submitted_at = time.perf_counter()
            self.submitted = any("Submitted: public score" in text for text in self.texts)


def sign_in_over_http(base: str, auth_url: str, subject: str) -> str:
    """Follow st.login's redirect to the provider, post its form as `subject`, follow it back through Streamlit's
    /oauth2callback: the Cookie header the signed-in browser then sends (Streamlit's own cookies)."""
    import http.cookiejar
    import urllib.parse

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(urllib.parse.urljoin(base + "/", auth_url), timeout=120) as answer:  # -> the provider's form
        form = answer.geturl()
        answer.read()
    posted = urllib.request.Request(form, data=urllib.parse.urlencode({"sub": subject}).encode())
    with opener.open(posted, timeout=120) as answer:  # -> /oauth2callback -> the lab, signed in
        answer.read()
    with opener.open(f"{base}/_stcore/health", timeout=120) as answer:  # sets the XSRF cookie, as the page's load does
        answer.read()
    cookies = [f"{c.name}={c.value}" for c in jar if c.name.startswith("_streamlit")]
    if not any(c.startswith("_streamlit_user=") for c in cookies):
        raise RuntimeError(f"{subject}: no sign-in cookie came back from the lab")
    return "; ".join(cookies)


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


def start_server(
    port: int, home: Path, executor: str = "local", ray_address: str = "", extra_env: dict | None = None
) -> subprocess.Popen:
    """The hosted dashboard on `port` over `home`, started the tests' own way (tests/e2e/servers.py: a deadline, the
    server's log in the home); its process."""
    from tests.e2e.servers import start_server as launch

    env = {
        **(extra_env or {}),
        "EMBEDDING_LAB_HOSTED": "1",
        "EMBEDDING_LAB_WARM": "off",  # computed before the class (main): nothing else competes for the CPUs
        "EMBEDDING_LAB_EXECUTOR": executor,
        "EMBEDDING_LAB_RAY_ADDRESS": ray_address,
    }
    proc, _, _ = launch(home, port=port, env_vars=env, args=("--server.fileWatcherType", "none"), timeout=120.0)
    return proc


TEACHER = ("teacher-sub", {"email": "teacher@school.test", "name": "Ms Turing"})
CHALLENGE_SETUP = "teacher=mpnet&vocab=default&lemma=none"  # the story's data: what Try it prepares for everyone


def start_provider(port: int, students: int) -> tuple[subprocess.Popen, str]:
    """oidc-provider-mock on 127.0.0.1:`port` with the teacher's and the students' claims; (process, its URL)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            urllib.request.urlopen(f"{base}/.well-known/openid-configuration", timeout=1).read()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("the identity provider did not start")
    people = [TEACHER] + [(f"s{i}", {"email": f"s{i}@school.test", "name": f"Student {i}"}) for i in range(students)]
    for sub, claims in people:
        request = urllib.request.Request(
            f"{base}/users/{sub}",
            data=json.dumps(claims).encode(),
            method="PUT",
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=30).close()
    return proc, base


async def teach(port: int, base: str, challenge_set: asyncio.Event, class_done: asyncio.Event) -> Session:
    """The teacher's tab: sign in, set the challenge, then reload the class board and the Challenge page every 5 s."""
    teacher = Session(port, "teacher")
    await teacher.sign_in(base, TEACHER[0])
    async with teacher.connect() as ws:
        await teacher.open_page(ws, "leaderboard", CHALLENGE_SETUP)
        await teacher.request(ws, {teacher.button_id("ch_create"): True})
        if not any("is set" in text for text in teacher.texts):
            raise RuntimeError("the teacher could not set the challenge: " + " | ".join(teacher.texts[-3:]))
        challenge_set.set()
        while not class_done.is_set():
            await asyncio.sleep(5)
            teacher.note("class board", await teacher.open_page(ws, "class_board"))
            teacher.note("challenge page", await teacher.open_page(ws, "leaderboard"))
    return teacher


async def drive_lesson(port: int, base: str, n: int, timeout: float) -> tuple[Session, list[Session]]:
    deadline = time.time() + timeout
    challenge_set, class_done = asyncio.Event(), asyncio.Event()
    teacher = asyncio.create_task(teach(port, base, challenge_set, class_done))
    await asyncio.wait_for(challenge_set.wait(), timeout)
    students = [Session(port, f"s{i}") for i in range(n)]
    results = await asyncio.gather(*(s.lesson(base, deadline, challenge_set) for s in students), return_exceptions=True)
    for s, r in zip(students, results):
        if isinstance(r, BaseException):
            s.errors.append(f"{type(r).__name__}: {r}")
    class_done.set()
    return await teacher, students


def check_leaderboard(home: Path, students: int) -> dict:
    """The board against the lab's own files: one row per student who submitted, each their best public score, ranked;
    no submission over the budget; no run that asked the teacher about a hidden word."""
    from core.classroom import challenge as ch
    from core.runs.store import load_run

    challenge = ch.list_challenges(home)[0]  # the newest: this lesson's
    entries = ch.submissions(home, challenge)
    board = ch.leaderboard(challenge, entries, {})
    hidden = json.loads((ch.challenges_dir(home) / challenge.id / "hidden.json").read_text())
    hidden = set(hidden["public"]) | set(hidden["private"])
    asked_hidden = logged = 0
    for entry in entries:
        stored = load_run(home / "runs", entry["run_id"])
        items = stored.items
        asked = set(items.filter(items["split"] == "training")["item"].to_list())
        asked_hidden += bool(asked & hidden)
        record = ch.recorded_answers(home, challenge, stored.meta.get("ticket"))  # the teacher's query log
        logged += bool(record and record["answers"] == entry["answers"] and set(record["words"]) == asked)
    best = {}
    for e in entries:
        best[e["owner"]] = max(best.get(e["owner"], -1.0), e["public"])
    publics = board["public"].to_list()
    right = (
        board.height == len(best) == students
        and sorted(publics, reverse=True) == publics
        and sorted(best.values(), reverse=True) == publics
    )
    return {
        "submissions": len(entries),
        "leaderboard_rows": board.height,
        "leaderboard_right": bool(right),
        "over_budget": sum(e["answers"] > challenge.budget for e in entries),
        "runs_that_asked_a_hidden_word": asked_hidden,
        "answers_as_the_query_log_says": logged,  # of the submissions: counted from the lab's log, and right
        "budget": challenge.budget,
    }


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
    parser.add_argument("--lesson", action="store_true", help="a whole lesson with sign-in and a challenge (issue 30)")
    parser.add_argument(
        "--home",
        type=Path,
        help="--lesson: a scratch lab home warmed by an earlier run (its runs/ and classroom/ are emptied first); "
        "default: a new temporary one, warmed here",
    )
    args = parser.parse_args()
    if args.lesson:
        return lesson(args)

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


def lesson(args) -> None:
    """`--lesson`: the teacher and `--sessions` students through a lesson with sign-in (see the module's docstring)."""
    import secrets as tokens

    from tests.e2e.servers import free_port  # the browser tests' own way to find a free port

    if args.home and (args.home / "runs").is_dir() and not (args.home / "bench-scratch").exists():
        sys.exit(f"{args.home} holds runs and is no scratch home of this bench: give an empty folder to --home.")
    with tempfile.TemporaryDirectory() as tmp:
        home = args.home or Path(tmp) / "lab"
        home.mkdir(parents=True, exist_ok=True)
        (home / "bench-scratch").touch()  # this bench may empty it again
        for kept in ("runs", "classroom"):  # a class arrives at a lab whose caches are warm and nothing else
            shutil.rmtree(home / kept, ignore_errors=True)
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "core", "warm", "--steps", WARM_STEPS, "--json"],
            cwd=ROOT,
            env={**os.environ, "EMBEDDING_LAB_HOME": str(home)},
            check=True,
            stdout=subprocess.DEVNULL,
        )
        warm_s = time.perf_counter() - start
        provider, base = start_provider(free_port(), args.sessions)
        secrets_file = Path(tmp) / "secrets.toml"
        secrets_file.write_text(
            "[auth]\n"
            'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
            f'cookie_secret = "{tokens.token_urlsafe(32)}"\n'
            'client_id = "embedding-lab"\nclient_secret = "not-a-secret"\n'
            f'server_metadata_url = "{base}/.well-known/openid-configuration"\n'
        )
        (home / "lab.toml").write_text(
            f'[host]\nhosted = true\nlogin = true\n[classroom]\nteachers = ["{TEACHER[1]["email"]}"]\n'
        )
        proc = start_server(args.port, home, extra_env={"STREAMLIT_SECRETS_FILES": str(secrets_file)})
        peak = [0.0]
        samples: list[tuple[float, float]] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                rss = rss_mb(proc.pid)
                peak[0] = max(peak[0], rss)
                samples.append((time.perf_counter(), rss))
                time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            rss_before = rss_mb(proc.pid)
            start = time.perf_counter()
            teacher, students = asyncio.run(
                drive_lesson(args.port, f"http://127.0.0.1:{args.port}", args.sessions, args.timeout)
            )
            wall = time.perf_counter() - start
            rss_end = rss_mb(proc.pid)
            time.sleep(5)
            threads_after = proc_status(proc.pid, "Threads")
        finally:
            stop.set()
            proc.terminate()
            provider.terminate()
            for p in (proc, provider):
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
        board = check_leaderboard(home, args.sessions)

    pages = [x for s in students for x in s.latencies]
    board_pages = teacher.latencies

    def by_kind(sessions) -> dict:  # which pages were slow: p95 and max of each kind of request
        seen: dict[str, list[float]] = {}
        for s in sessions:
            for kind, value in zip(s.kinds, s.latencies):
                seen.setdefault(kind, []).append(value)
        return {k: {"n": len(v), "p95": round(p95(v), 2), "max": round(max(v), 2)} for k, v in sorted(seen.items())}

    def when(values) -> float | None:  # seconds after the class began
        values = [v for v in values if v is not None]
        return round(values[0] - start, 1) if values else None

    def moments(name: str) -> list[float]:
        return [getattr(s, name) for s in students if hasattr(s, name)]

    peak_at = max(samples, key=lambda x: x[1])[0] if samples else None

    def spread(values: list[float]) -> dict:
        return {"median": round(statistics.median(values), 2), "max": round(max(values), 2)} if values else {}

    print(
        json.dumps(
            {
                "benchmark": "classroom_lesson",
                "students": args.sessions,
                "signed_in": sum(hasattr(s, "sign_in_s") for s in students),
                "try_it_finished": sum(s.finished for s in students),
                "submitted": sum(bool(getattr(s, "submitted", False)) for s in students),
                **board,
                "page_requests": len(pages),
                "p95_page_s": round(p95(pages), 3),
                "max_page_s": round(max(pages, default=0.0), 3),
                "median_page_s": round(statistics.median(pages), 3) if pages else None,
                "page_by_kind": by_kind(students),
                "teacher_board_requests": len(board_pages),
                "teacher_board_p95_s": round(p95(board_pages), 3),
                "sign_in_s": spread([s.sign_in_s for s in students if hasattr(s, "sign_in_s")]),
                "try_it_s": spread([s.try_it_s for s in students if hasattr(s, "try_it_s")]),  # click -> the pair shown
                "train_and_submit_s": spread([s.submit_s for s in students if hasattr(s, "submit_s")]),
                "wall_s": round(wall, 1),
                "rss_before_class_mb": round(rss_before, 1),
                "peak_rss_mb": round(peak[0], 1),
                # when the peak came, beside the lesson's moments (seconds after the class began)
                "peak_rss_at_s": when([peak_at]),
                "last_try_it_done_at_s": when([max(moments("try_it_done_at"), default=None)]),
                "first_submit_at_s": when([min(moments("submit_at"), default=None)]),
                "last_submitted_at_s": when([max(moments("submitted_at"), default=None)]),
                "rss_after_class_mb": round(rss_end, 1),
                "server_threads_after": threads_after,
                "teacher_warm_up_s": round(warm_s, 1),
                "errors": sorted({e for s in [teacher, *students] for e in s.errors})[:5],
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
