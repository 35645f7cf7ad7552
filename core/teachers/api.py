"""A paid API as the teacher: any OpenAI-compatible embeddings endpoint (`POST {base_url}/embeddings`).

Settings come from the environment (or, in the dashboard, Streamlit secrets under [api]):

    EMBEDDING_LAB_API_BASE     the endpoint's base URL, e.g. https://api.openai.com/v1
    EMBEDDING_LAB_API_KEY      the key (OPENAI_API_KEY is read when this is not set)
    EMBEDDING_LAB_API_PRICE    US dollars per million input tokens (for the cost estimate; default 0.02)
    EMBEDDING_LAB_API_BUDGET   the spending cap in US dollars for this lab home (default 1.00)
    EMBEDDING_LAB_API_DEADLINE       seconds one batch may take, every try and wait included (default 120)
    EMBEDDING_LAB_API_JOB_DEADLINE   seconds one job (an `embed` call) may take (default 3600)
    EMBEDDING_LAB_API_MAX_ANSWER_MB  the largest answer read, in MB (default: 1 MB + 0.1 MB per text of the batch)
    EMBEDDING_LAB_API_ALLOW_PRIVATE  1 to allow a private, link-local or loopback address (a server you run yourself)

Name the teacher `api:<model>` (e.g. `api:text-embedding-3-small`) on the Data page or in the CLI.

Safety and money:
- The key lives in memory only: it is never written to the cache, the run store, a run card, a log line
  or an error message (`repr` hides it; tests grep every file the lab wrote).
- Before any call the caller can ask `estimate(texts)`: tokens (about 4 characters each — the lab cannot
  know a remote model's tokenizer) and dollars. `embed` refuses, before sending anything, when the
  estimate of what is not cached yet would take the spending past the cap. What was spent is kept in a
  small ledger beside the cache (`api-spend.json`), so a restart does not reset the cap.
- Batches of `batch_size` texts; 429 and 5xx answers and dropped connections are retried with
  exponential backoff (honouring Retry-After, at most `max_retries` times); any other error stops at once
  with a sentence. An answer is checked before it is used: valid JSON, one finite vector per text, the
  same width every time. `CachedTeacher` keeps every answered batch, so nothing paid for is asked twice.
- Bounded: every batch has a deadline (all its tries and waits), every job too, and a job can be cancelled
  (`embed(..., cancel=event)`) within about a second, even while a request hangs: the request runs in a worker
  thread that the caller stops waiting for. An answer larger than the cap is refused after reading at most the
  cap, and not asked for again. A batch cut off after it was sent is counted as spent (its estimate): the
  provider may bill it, and the cap must stay a cap.
- Only public addresses: the key is not sent to a private (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7),
  link-local (169.254/16, fe80::/10, cloud metadata) or loopback address, nor to names such as
  `metadata.google.internal` or `localhost`, unless the operator sets EMBEDDING_LAB_API_ALLOW_PRIVATE=1. The
  name is checked when the teacher is loaded, and the addresses it resolves to are checked again at every
  connection, before connecting (so a name that later resolves inside the network is caught too). Requests go
  straight to that address: environment proxies are not used.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import math
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from core.paths import cache_dir
from core.teachers.base import Progress, TeacherCancelled, TeacherUnavailable, cancel_check
from core.teachers.netguard import Exchange, TooBig, check_base_url
from core.teachers.spend import (
    SPECIAL_TOKENS_PER_TEXT,
    BudgetExceeded,
    SpendLedger,
    estimate_tokens,
    most_tokens,
)


@dataclass(frozen=True)
class ApiSettings:
    base_url: str
    model: str
    key: str = field(default="", repr=False)
    price_per_million: float = 0.02
    budget_usd: float = 1.0
    batch_size: int = 128
    max_retries: int = 5
    timeout_s: float = 60.0  # one socket operation (connect, a read)
    backoff_s: float = 0.5  # first wait; doubles each retry, at most 30 s
    deadline_s: float = 120.0  # one batch, every try and wait included
    job_deadline_s: float = 3600.0  # one `embed` call, every batch included
    max_answer_mb: float = 0.0  # 0: 1 MB + 0.1 MB per text of the batch (3,072 floats as JSON are about 60 KB)
    allow_private: bool = False  # the operator's switch for a server on a private, link-local or loopback address

    def __post_init__(self) -> None:
        try:
            url = urlparse(self.base_url or "")
            url.port  # noqa: B018 (raises ValueError for a port that is not a number)
        except ValueError:
            raise TeacherUnavailable(f"The API base URL {self.base_url!r} is not a valid address.") from None
        if url.scheme not in ("http", "https") or not url.hostname:
            raise TeacherUnavailable(f"The API base URL must start with http:// or https://, got {self.base_url!r}.")
        if not self.model or len(self.model) > 200:
            raise TeacherUnavailable("Name the API model, e.g. api:text-embedding-3-small.")
        for name, low in (("price_per_million", 0.0), ("budget_usd", 0.0)):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= low):
                raise TeacherUnavailable(f"{name} must be a number of dollars of at least {low}, got {value!r}.")
        if not (isinstance(self.batch_size, int) and 1 <= self.batch_size <= 2048):
            raise TeacherUnavailable(f"batch_size must be between 1 and 2048, got {self.batch_size!r}.")
        for name, env_name in (
            ("timeout_s", "timeout_s"),
            ("deadline_s", "EMBEDDING_LAB_API_DEADLINE"),
            ("job_deadline_s", "EMBEDDING_LAB_API_JOB_DEADLINE"),
        ):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise TeacherUnavailable(f"{env_name} must be a number of seconds above 0, got {value!r}.")
        if not (
            isinstance(self.max_answer_mb, (int, float))
            and math.isfinite(self.max_answer_mb)
            and self.max_answer_mb >= 0
        ):
            raise TeacherUnavailable(
                f"EMBEDDING_LAB_API_MAX_ANSWER_MB must be a number of MB, got {self.max_answer_mb!r}."
            )

    def max_answer_bytes(self, texts: int) -> int:
        """The largest answer read for a batch of `texts` texts."""
        mb = self.max_answer_mb or 1.0 + 0.1 * texts
        return int(mb * 1_000_000)

    @classmethod
    def from_env(cls, model: str, env: dict | None = None, **overrides) -> ApiSettings:
        env = os.environ if env is None else env

        def number(name: str, default: float) -> float:
            raw = env.get(name, "")
            try:
                return float(raw) if raw.strip() else default
            except ValueError:
                raise TeacherUnavailable(f"{name} must be a number, got {raw!r}.") from None

        def positive(name: str, default: float) -> float:
            value = number(name, default)
            if not (math.isfinite(value) and value > 0):
                raise TeacherUnavailable(f"{name} must be a number above 0, got {env.get(name)!r}.")
            return value

        base = env.get("EMBEDDING_LAB_API_BASE", "")
        if not base:
            raise TeacherUnavailable(
                "No API is configured: set EMBEDDING_LAB_API_BASE (and EMBEDDING_LAB_API_KEY) — see README, 'API teacher'."
            )
        key = env.get("EMBEDDING_LAB_API_KEY") or env.get("OPENAI_API_KEY") or ""
        allow = env.get("EMBEDDING_LAB_API_ALLOW_PRIVATE", "").strip().lower()
        if allow not in ("", "0", "1", "true", "false", "yes", "no"):
            raise TeacherUnavailable(f"EMBEDDING_LAB_API_ALLOW_PRIVATE must be 1 or 0, got {allow!r}.")
        limits = {
            "deadline_s": positive("EMBEDDING_LAB_API_DEADLINE", 120.0),
            "job_deadline_s": positive("EMBEDDING_LAB_API_JOB_DEADLINE", 3600.0),
            "max_answer_mb": positive("EMBEDDING_LAB_API_MAX_ANSWER_MB", 1e-9)
            if env.get("EMBEDDING_LAB_API_MAX_ANSWER_MB", "").strip()
            else 0.0,
            "allow_private": allow in ("1", "true", "yes"),
        }
        return cls(
            **{
                "base_url": base,
                "model": model,
                "key": key,
                "price_per_million": number("EMBEDDING_LAB_API_PRICE", 0.02),
                "budget_usd": number("EMBEDDING_LAB_API_BUDGET", 1.0),
                **limits,
                **overrides,
            }
        )


def api_teacher_id(settings: ApiSettings) -> str:
    """Model name plus a hash of the endpoint: two endpoints serving 'the same' model never share a cache."""
    digest = hashlib.sha256(settings.base_url.rstrip("/").encode()).hexdigest()[:8]
    safe = "".join(c if (c.isascii() and c.isalnum()) or c in "._-" else "_" for c in settings.model)[:80]
    return f"api-{safe}-{digest}"


class ApiTeacher:
    """An OpenAI-compatible embeddings endpoint as a `Teacher` (wrap it in `CachedTeacher`)."""

    def __init__(
        self,
        settings: ApiSettings,
        ledger: SpendLedger | None = None,
        sleep: Callable[[float], None] | None = None,
        dim: int | None = None,
    ):
        self.settings = settings
        self.id = api_teacher_id(settings)
        self.ledger = ledger
        self._sleep = sleep  # None: a wait that a cancel interrupts; tests pass their own
        self._dim = dim
        self.requests = 0  # HTTP requests made (retries included)
        self.notes: list[str] = []  # what the caller should tell the user (a server's token count not believed)
        self._overcounts: list[int] = []  # the tokens recorded instead, one per batch whose count was not believed

    def __repr__(self) -> str:  # never the key
        return f"ApiTeacher(model={self.settings.model!r}, base_url={self.settings.base_url!r})"

    @property
    def dim_known(self) -> bool:
        return self._dim is not None

    def remember_dim(self, dim: int) -> None:
        self._dim = int(dim)

    @property
    def dim(self) -> int:
        if self._dim is None:
            self.embed(["dimension probe"])  # one tiny call (a few tokens), only when nothing else said the width
        return self._dim

    # -- money ------------------------------------------------------------------------------------
    def estimate(self, texts: Sequence[str]) -> dict:
        tokens = estimate_tokens(texts)
        spent = self.ledger.spent() if self.ledger else 0.0  # the cap is for the whole lab home
        return {
            "texts": len(texts),
            "tokens": tokens,
            "usd": tokens * self.settings.price_per_million / 1e6,
            "spent_usd": spent,
            "budget_usd": self.settings.budget_usd,
        }

    def check_budget(self, texts: Sequence[str]) -> dict:
        est = self.estimate(texts)
        if est["spent_usd"] + est["usd"] > self.settings.budget_usd + 1e-12:
            raise BudgetExceeded(
                f"Embedding {est['texts']:,} texts (about {est['tokens']:,} tokens, ${est['usd']:.4f}) would take the spending to "
                f"${est['spent_usd'] + est['usd']:.4f}, over the cap of ${est['budget_usd']:.2f}. Nothing was sent. Raise "
                "EMBEDDING_LAB_API_BUDGET, or use fewer texts."
            )
        return est

    # -- calls --------------------------------------------------------------------------------------
    cancellable = True  # CachedTeacher passes `cancel` and `deadline` through, one batch at a time

    @property
    def batch_size(self) -> int:
        return self.settings.batch_size

    @property
    def job_deadline_s(self) -> float:
        return self.settings.job_deadline_s

    def _note_overcount(self, claimed: str, n: int, recorded: int) -> None:
        """Say once (one note, kept up to date) that a server's token count was not believed."""
        note = _overcount_note(claimed, n, [*self._overcounts, recorded])
        if self._overcounts:
            self.notes[self._overcount_at] = note
        else:
            self._overcount_at = len(self.notes)
            self.notes.append(note)
        self._overcounts.append(recorded)

    def embed(
        self, texts: Sequence[str], progress: Progress | None = None, cancel=None, deadline: float | None = None
    ) -> np.ndarray:
        """Vectors for `texts`, asked in batches. `cancel`: a `threading.Event` or a function returning True,
        honoured within about a second even mid-request (`TeacherCancelled`). `deadline`: a `time.monotonic()`
        value the whole call must finish by (default: now + the job deadline)."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self._dim or 0), np.float32)
        import contextlib

        cancelled = cancel_check(cancel)
        job_end = deadline if deadline is not None else time.monotonic() + self.settings.job_deadline_s
        out = []
        size = self.settings.batch_size
        # check and spend under one lock, so two jobs (threads or processes) cannot both pass the same check
        with self.ledger.locked(job_end, cancelled) if self.ledger else contextlib.nullcontext():
            self.check_budget(texts)
            check_base_url(self.settings)  # an inner address by name or number: refused before any attempt
            for start in range(0, len(texts), size):
                if cancelled():
                    raise TeacherCancelled(
                        f"Cancelled: {start:,} of {len(texts):,} texts were answered; nothing more was asked."
                    )
                if time.monotonic() >= job_end:
                    raise self._past_job_deadline(f"after {start:,} of {len(texts):,} texts")
                batch = texts[start : start + size]
                vectors, tokens = self._call(batch, cancelled, job_end)
                if self.ledger:
                    self.ledger.add(self.id, tokens * self.settings.price_per_million / 1e6)
                out.append(vectors)
                if progress:
                    progress(min(start + size, len(texts)), len(texts))
        return np.concatenate(out)

    def _call(self, batch: list[str], cancelled=lambda: False, job_end: float = math.inf) -> tuple[np.ndarray, int]:
        s = self.settings
        body = json.dumps({"model": s.model, "input": batch, "encoding_format": "float"}).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "embedding-distillation-lab"}
        if s.key:
            headers["Authorization"] = f"Bearer {s.key}"
        url = s.base_url.rstrip("/") + "/embeddings"
        cap = s.max_answer_bytes(len(batch))
        batch_limit = time.monotonic() + s.deadline_s
        batch_end = min(batch_limit, job_end)

        def past_deadline(last: str) -> TeacherUnavailable:  # the deadline that ends the wait is the one named
            if job_end < batch_limit:
                return self._past_job_deadline(f"while a batch of {len(batch):,} texts was asked (last: {last})")
            return self._past_deadline(last)

        last = ""
        for attempt in range(s.max_retries + 1):
            if attempt:
                self._pause(self._wait(attempt, last), batch_end, cancelled, past_deadline(last))
            self.requests += 1
            exchange = Exchange(
                url, body, headers, min(s.timeout_s, max(0.05, batch_end - time.monotonic())), cap, s.allow_private
            )
            threading.Thread(target=exchange.run, daemon=True, name="api-teacher-request").start()
            while not exchange.done.wait(0.05):
                if cancelled() or time.monotonic() >= batch_end:
                    exchange.abandon()
                    if exchange.sent:
                        self._count_unanswered(batch)
                    if cancelled():
                        raise TeacherCancelled(
                            "Cancelled while the API was answering; what was answered before is kept in the cache."
                        )
                    raise past_deadline(last or "no answer yet")
            err = exchange.error
            if isinstance(err, TeacherUnavailable):  # an inner address: nothing was sent
                raise err
            if isinstance(err, TooBig):
                self._count_unanswered(batch)
                raise TeacherUnavailable(
                    f"The API's answer was larger than {cap / 1e6:g} MB for {len(batch)} texts, so it was "
                    "refused unread and not asked for again; check that EMBEDDING_LAB_API_BASE is an "
                    "embeddings endpoint (or raise EMBEDDING_LAB_API_MAX_ANSWER_MB)."
                )
            if err is not None:
                if not isinstance(err, (TimeoutError, ConnectionError, OSError, http.client.HTTPException)):
                    raise err
                if exchange.sent:  # timed out, dropped or cut short after the request left: it may be billed
                    self._count_unanswered(batch)
                last = f"connection failed ({type(err).__name__})"  # dropped, truncated or not HTTP at all: ask again
                continue
            code, answer_headers, raw = exchange.result
            if 300 <= code < 400:  # never followed: the key would go wherever the redirect points
                target = urlparse(answer_headers.get("Location", "") or "")
                raise TeacherUnavailable(
                    f"The API answered with a redirect to another address (HTTP {code} to "
                    f"{target.netloc or 'elsewhere'}); the key is not sent there. Set EMBEDDING_LAB_API_BASE "
                    "to the final address."
                )
            if code == 429 or code >= 500:
                retry_after = answer_headers.get("Retry-After", "") or ""
                last = f"HTTP {code}" + (f"; retry-after {retry_after}" if retry_after else "")
                continue
            if code in (401, 403):
                raise TeacherUnavailable(f"The API refused the key (HTTP {code}): check EMBEDDING_LAB_API_KEY.")
            if not 200 <= code < 300:
                raise TeacherUnavailable(
                    f"The API answered HTTP {code} for model '{s.model}': {self._reason(raw, code)}"
                )
            try:
                return self._parse(raw, batch)
            except _Malformed as err:
                self._count_unanswered(batch)  # a garbled answer was still an answer the provider may bill
                last = str(err)
                continue  # a garbled answer is treated like a server fault: ask again
        raise TeacherUnavailable(
            f"The API did not give a usable answer after {s.max_retries + 1} tries (last: {last}). "
            "What was answered before is kept in the cache; try again later."
        )

    def _past_deadline(self, last: str) -> TeacherUnavailable:
        return TeacherUnavailable(
            f"The API gave no usable answer within the {self.settings.deadline_s:g} s allowed for one batch "
            f"(EMBEDDING_LAB_API_DEADLINE; last: {last}); what was answered before is kept in the cache: "
            "try again later."
        )

    def _past_job_deadline(self, when: str) -> TeacherUnavailable:
        return TeacherUnavailable(
            f"The API job ran past its deadline (EMBEDDING_LAB_API_JOB_DEADLINE, {self.settings.job_deadline_s:g} s) "
            f"{when}; what was answered before is kept in the cache: run it again to go on."
        )

    def _count_unanswered(self, batch: list[str]) -> None:
        """A request cut off after it was sent may still be billed: count its estimate, so the cap stays a cap."""
        if self.ledger:
            self.ledger.add(self.id, estimate_tokens(batch) * self.settings.price_per_million / 1e6)

    def _pause(self, seconds: float, until: float, cancelled, past_deadline: TeacherUnavailable) -> None:
        if time.monotonic() + seconds >= until:
            raise past_deadline  # waiting would only end past the deadline: say so now
        if self._sleep is not None:
            self._sleep(seconds)
            return
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if cancelled():
                raise TeacherCancelled(
                    "Cancelled while waiting to ask the API again; what was answered before is kept in the cache."
                )
            time.sleep(min(0.1, left))

    def _wait(self, attempt: int, last: str) -> float:
        if "retry-after " in last:
            try:
                return min(30.0, max(0.0, float(last.split("retry-after ")[1])))
            except ValueError:
                pass
        return min(30.0, self.settings.backoff_s * 2 ** (attempt - 1)) * (0.75 + 0.5 * random.random())

    @staticmethod
    def _reason(raw: bytes, code: int) -> str:
        try:
            detail = json.loads(raw[:65536].decode("utf-8", "replace"))
            message = detail.get("error", {}).get("message", "") if isinstance(detail, dict) else ""
        except (ValueError, AttributeError, RecursionError):
            message = ""
        return (str(message)[:200] or http.client.responses.get(code, "") or "no reason given").replace("\n", " ")

    def _parse(self, raw: bytes, batch: list[str]) -> tuple[np.ndarray, int]:
        n = len(batch)
        try:
            payload = json.loads(raw)
            data = payload["data"]
            if all(isinstance(d, dict) and "index" in d for d in data):
                if sorted(d["index"] for d in data) != list(range(len(data))):
                    raise _Malformed("the answer's indexes are not 0..n-1")  # duplicates would misplace vectors
                rows = sorted(data, key=lambda d: d["index"])
            else:
                rows = data
            vectors = np.asarray([d["embedding"] for d in rows], dtype=np.float64)
        except RecursionError:  # JSON nested thousands deep
            raise _Malformed("malformed answer (nested too deeply)") from None
        except (ValueError, KeyError, TypeError) as err:
            raise _Malformed(f"malformed answer ({type(err).__name__})") from None
        if vectors.ndim != 2 or vectors.shape[0] != n:
            raise _Malformed(f"{vectors.shape[0] if vectors.ndim else 0} vectors for {n} texts")
        if vectors.shape[1] == 0:
            raise _Malformed("the answer's vectors hold no numbers")
        if not np.isfinite(vectors).all():
            raise _Malformed("the answer holds NaN or infinite numbers")
        vectors = _unit_rows_of_any_size(vectors)
        if vectors is None:
            raise _Malformed("the answer holds an all-zero vector")
        if self._dim is None:
            self._dim = int(vectors.shape[1])
        elif vectors.shape[1] != self._dim:
            raise TeacherUnavailable(
                f"The API changed its vector width from {self._dim} to {vectors.shape[1]} numbers; "
                "the answers cannot be mixed. Nothing of this batch was kept."
            )
        usage = payload.get("usage") if isinstance(payload, dict) else None
        tokens = usage.get("total_tokens") if isinstance(usage, dict) else None
        if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 0:
            tokens = estimate_tokens(batch)  # not reported: count what the estimate said
        elif tokens > most_tokens(batch):
            bound = most_tokens(batch)
            claimed = f"{tokens:,}" if tokens < 10**15 else f"{tokens:.3g}"
            self._note_overcount(claimed, n, bound)
            tokens = bound
        return vectors, tokens


def _overcount_note(claimed: str, n: int, recorded: list[int]) -> str:
    """One note for every batch whose token count was not believed (not a line per batch)."""
    bound = f"at most one per UTF-8 byte plus {SPECIAL_TOKENS_PER_TEXT} per text"
    if len(recorded) == 1:
        return (
            f"The API reported {claimed} tokens for {n} texts, more than they can hold; {recorded[0]:,} ({bound}) "
            "was recorded as spent instead."
        )
    return (
        f"The API reported more tokens than the texts can hold for {len(recorded):,} batches (last: {claimed} for "
        f"{n} texts); {sum(recorded):,} in all ({bound}) was recorded as spent instead."
    )


def _unit_rows_of_any_size(vectors: np.ndarray) -> np.ndarray | None:
    """Finite float64 rows scaled to length 1 as float32, however large their numbers (the squares in a norm
    overflow float32 from 1e19 and float64 from 1e154: each row is first divided by its largest magnitude); None
    when a row is all zeros.

    >>> _unit_rows_of_any_size(np.array([[3e300, 4e300]])).tolist()
    [[0.6000000238418579, 0.800000011920929]]
    """
    scale = np.abs(vectors).max(axis=1, keepdims=True)
    if (scale == 0).any():
        return None
    scaled = vectors / scale
    return (scaled / np.linalg.norm(scaled, axis=1, keepdims=True)).astype(np.float32)


class _Malformed(ValueError):
    pass


def load_api_teacher(name: str, cache_root: Path | None = None, env: dict | None = None, **overrides) -> ApiTeacher:
    """`api:<model>` -> an ApiTeacher configured from the environment, with its spending ledger."""
    model = name.split(":", 1)[1].strip() if ":" in name else ""
    settings = ApiSettings.from_env(model, env=env, **overrides)
    check_base_url(settings)  # before anything else, so the page says so as soon as the teacher is chosen
    root = Path(cache_root) if cache_root is not None else cache_dir()
    return ApiTeacher(settings, SpendLedger(root / "api-spend.json"))
