"""A paid API as the teacher: any OpenAI-compatible embeddings endpoint (`POST {base_url}/embeddings`).

Settings come from the environment (or, in the dashboard, Streamlit secrets under [api]):

    EMBEDDING_LAB_API_BASE     the endpoint's base URL, e.g. https://api.openai.com/v1
    EMBEDDING_LAB_API_KEY      the key (OPENAI_API_KEY is read when this is not set)
    EMBEDDING_LAB_API_PRICE    US dollars per million input tokens (for the cost estimate; default 0.02)
    EMBEDDING_LAB_API_BUDGET   the spending cap in US dollars for this lab home (default 1.00)

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
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from core.teacher import Progress, TeacherUnavailable

CHARS_PER_TOKEN = 4


class BudgetExceeded(TeacherUnavailable):
    """The call would spend more than the cap allows; nothing was sent."""


@dataclass(frozen=True)
class ApiSettings:
    base_url: str
    model: str
    key: str = field(default="", repr=False)
    price_per_million: float = 0.02
    budget_usd: float = 1.0
    batch_size: int = 128
    max_retries: int = 5
    timeout_s: float = 60.0
    backoff_s: float = 0.5  # first wait; doubles each retry, at most 30 s

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

    @classmethod
    def from_env(cls, model: str, env: dict | None = None, **overrides) -> ApiSettings:
        env = os.environ if env is None else env

        def number(name: str, default: float) -> float:
            raw = env.get(name, "")
            try:
                return float(raw) if raw.strip() else default
            except ValueError:
                raise TeacherUnavailable(f"{name} must be a number, got {raw!r}.") from None

        base = env.get("EMBEDDING_LAB_API_BASE", "")
        if not base:
            raise TeacherUnavailable("No API is configured: set EMBEDDING_LAB_API_BASE (and EMBEDDING_LAB_API_KEY) — see README, 'API teacher'.")
        key = env.get("EMBEDDING_LAB_API_KEY") or env.get("OPENAI_API_KEY") or ""
        return cls(**{"base_url": base, "model": model, "key": key, "price_per_million": number("EMBEDDING_LAB_API_PRICE", 0.02),
                      "budget_usd": number("EMBEDDING_LAB_API_BUDGET", 1.0), **overrides})


def estimate_tokens(texts: Sequence[str]) -> int:
    return sum(max(1, math.ceil(len(t) / CHARS_PER_TOKEN)) for t in texts)


class SpendLedger:
    """Dollars spent per API teacher id, in one JSON file beside the cache, written atomically. The cap
    applies to the total over every API model and endpoint of this lab home (a new model name is not a new
    budget). Threads and processes (the dashboard, a CLI run) take a file lock around check and spend."""

    _lock = threading.Lock()

    def __init__(self, path: Path):
        self.path = Path(path)

    def _read(self) -> dict:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text())
            if not isinstance(data, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                     and math.isfinite(v) and v >= 0 for v in data.values()):
                raise ValueError
            return {k: float(v) for k, v in data.items()}
        except (OSError, ValueError):
            # Not zero: a damaged ledger must not silently lift the cap. Deleting the file is a choice to make.
            raise BudgetExceeded(f"The spending record {self.path} is unreadable, so the lab cannot tell what was spent; "
                                 "nothing is sent until it is fixed or deleted (deleting it resets the count to $0).") from None

    def spent(self, teacher_id: str | None = None) -> float:
        """What one teacher has spent, or (None) everything spent from this lab home."""
        data = self._read()
        return sum(data.values()) if teacher_id is None else data.get(teacher_id, 0.0)

    def locked(self):
        """A lock held across threads and processes while a job is checked and paid for."""
        import contextlib
        import fcntl

        @contextlib.contextmanager
        def hold():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._lock, open(self.path.with_suffix(".lock"), "a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)

        return hold()

    def add(self, teacher_id: str, dollars: float) -> None:
        """Record spending (call it while holding `locked()`)."""
        data = self._read()
        data[teacher_id] = data.get(teacher_id, 0.0) + dollars
        tmp = self.path.with_suffix(f".tmp-{os.getpid()}-{threading.get_ident()}")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, self.path)


def api_teacher_id(settings: ApiSettings) -> str:
    """Model name plus a hash of the endpoint: two endpoints serving 'the same' model never share a cache."""
    digest = hashlib.sha256(settings.base_url.rstrip("/").encode()).hexdigest()[:8]
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in settings.model)[:80]
    return f"api-{safe}-{digest}"


class ApiTeacher:
    """An OpenAI-compatible embeddings endpoint as a `Teacher` (wrap it in `CachedTeacher`)."""

    def __init__(self, settings: ApiSettings, ledger: SpendLedger | None = None,
                 sleep: Callable[[float], None] = time.sleep, dim: int | None = None):
        self.settings = settings
        self.id = api_teacher_id(settings)
        self.ledger = ledger
        self._sleep = sleep
        self._dim = dim
        self.requests = 0  # HTTP requests made (retries included)

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
        return {"texts": len(texts), "tokens": tokens, "usd": tokens * self.settings.price_per_million / 1e6,
                "spent_usd": spent, "budget_usd": self.settings.budget_usd}

    def check_budget(self, texts: Sequence[str]) -> dict:
        est = self.estimate(texts)
        if est["spent_usd"] + est["usd"] > self.settings.budget_usd + 1e-12:
            raise BudgetExceeded(
                f"Embedding {est['texts']:,} texts (about {est['tokens']:,} tokens, ${est['usd']:.4f}) would take the spending to "
                f"${est['spent_usd'] + est['usd']:.4f}, over the cap of ${est['budget_usd']:.2f}. Nothing was sent. Raise "
                "EMBEDDING_LAB_API_BUDGET, or use fewer texts.")
        return est

    # -- calls --------------------------------------------------------------------------------------
    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self._dim or 0), np.float32)
        import contextlib

        out = []
        size = self.settings.batch_size
        # check and spend under one lock, so two jobs (threads or processes) cannot both pass the same check
        with self.ledger.locked() if self.ledger else contextlib.nullcontext():
            self.check_budget(texts)
            for start in range(0, len(texts), size):
                batch = texts[start : start + size]
                vectors, tokens = self._call(batch)
                if self.ledger:
                    self.ledger.add(self.id, tokens * self.settings.price_per_million / 1e6)
                out.append(vectors)
                if progress:
                    progress(min(start + size, len(texts)), len(texts))
        return np.concatenate(out)

    def _call(self, batch: list[str]) -> tuple[np.ndarray, int]:
        s = self.settings
        body = json.dumps({"model": s.model, "input": batch, "encoding_format": "float"}).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "embedding-distillation-lab"}
        if s.key:
            headers["Authorization"] = f"Bearer {s.key}"
        url = s.base_url.rstrip("/") + "/embeddings"
        last = ""
        for attempt in range(s.max_retries + 1):
            if attempt:
                self._sleep(self._wait(attempt, last))
            self.requests += 1
            try:
                with _NO_REDIRECTS.open(urllib.request.Request(url, data=body, headers=headers, method="POST"), timeout=s.timeout_s) as r:
                    raw = r.read()
            except _Redirected as err:
                raise TeacherUnavailable(f"The API answered with a redirect to another address ({err}); the key is not sent "
                                         "there. Set EMBEDDING_LAB_API_BASE to the final address.") from None
            except urllib.error.HTTPError as err:
                code = err.code
                retry_after = err.headers.get("Retry-After", "") if err.headers else ""
                if code == 429 or code >= 500:
                    last = f"HTTP {code}" + (f"; retry-after {retry_after}" if retry_after else "")
                    continue
                if code in (401, 403):
                    raise TeacherUnavailable(f"The API refused the key (HTTP {code}): check EMBEDDING_LAB_API_KEY.") from None
                raise TeacherUnavailable(f"The API answered HTTP {code} for model '{s.model}': {self._reason(err)}") from None
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError, http.client.HTTPException) as err:
                last = f"connection failed ({type(err).__name__})"  # dropped, truncated or not HTTP at all: ask again
                continue
            try:
                return self._parse(raw, batch)
            except _Malformed as err:
                last = str(err)
                continue  # a garbled answer is treated like a server fault: ask again
        raise TeacherUnavailable(f"The API did not give a usable answer after {s.max_retries + 1} tries (last: {last}). "
                                 "What was answered before is kept in the cache; try again later.")

    def _wait(self, attempt: int, last: str) -> float:
        if "retry-after " in last:
            try:
                return min(30.0, max(0.0, float(last.split("retry-after ")[1])))
            except ValueError:
                pass
        return min(30.0, self.settings.backoff_s * 2 ** (attempt - 1)) * (0.75 + 0.5 * random.random())

    @staticmethod
    def _reason(err: urllib.error.HTTPError) -> str:
        try:
            detail = json.loads(err.read().decode("utf-8", "replace"))
            message = detail.get("error", {}).get("message", "") if isinstance(detail, dict) else ""
        except (ValueError, OSError, AttributeError):
            message = ""
        return (str(message)[:200] or err.reason or "no reason given").replace("\n", " ")

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
            vectors = np.asarray([d["embedding"] for d in rows], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as err:
            raise _Malformed(f"malformed answer ({type(err).__name__})") from None
        if vectors.ndim != 2 or vectors.shape[0] != n:
            raise _Malformed(f"{vectors.shape[0] if vectors.ndim else 0} vectors for {n} texts")
        if not np.isfinite(vectors).all():
            raise _Malformed("the answer holds NaN or infinite numbers")
        if (np.linalg.norm(vectors, axis=1) == 0).any():
            raise _Malformed("the answer holds an all-zero vector")
        if self._dim is None:
            self._dim = int(vectors.shape[1])
        elif vectors.shape[1] != self._dim:
            raise TeacherUnavailable(f"The API changed its vector width from {self._dim} to {vectors.shape[1]} numbers; "
                                     "the answers cannot be mixed. Nothing of this batch was kept.")
        usage = payload.get("usage") if isinstance(payload, dict) else None
        tokens = usage.get("total_tokens") if isinstance(usage, dict) else None
        if not isinstance(tokens, int) or tokens < 0:
            tokens = estimate_tokens(batch)  # not reported: count what the estimate said
        return vectors, tokens


class _Malformed(ValueError):
    pass


class _Redirected(urllib.error.URLError):
    pass


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """urllib would repeat the request, Authorization header included, at whatever address a redirect names."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise _Redirected(f"HTTP {code} to {urlparse(newurl).netloc or newurl}")


_NO_REDIRECTS = urllib.request.build_opener(_RefuseRedirects)


def load_api_teacher(name: str, cache_root: Path | None = None, env: dict | None = None, **overrides) -> ApiTeacher:
    """`api:<model>` -> an ApiTeacher configured from the environment, with its spending ledger."""
    from core.paths import cache_dir

    model = name.split(":", 1)[1].strip() if ":" in name else ""
    settings = ApiSettings.from_env(model, env=env, **overrides)
    root = Path(cache_root) if cache_root is not None else cache_dir()
    return ApiTeacher(settings, SpendLedger(root / "api-spend.json"))
