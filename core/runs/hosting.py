"""Hosted mode: one dashboard serving a whole class from a shared host.

Settings come from a TOML file and from environment variables (the environment wins):

    file: $EMBEDDING_LAB_CONFIG, else <lab home>/lab.toml — a [host] table, e.g.

        [host]
        hosted = true            # keep each person's runs apart (plus the shared gallery)
        max_words = 20000        # largest vocabulary a user may upload
        max_epochs = 200         # most epochs per training
        max_upload_mb = 5        # largest upload
        max_trainings = 1        # trainings at once on this host (the rest queue, position shown)
        max_trainings_per_user = 1
        max_queue = 40           # waiting trainings before new ones are refused
        gallery = true           # users may share runs with everyone
        login = false            # require st.login (configure [auth] in .streamlit/secrets.toml)
        executor = "local"       # where trainings and sweeps run: "local" (this server's threads) or "ray"
        ray_address = ""         # ray: "" starts Ray inside the server, "auto" joins `ray start` on this machine,
                                 #      "HOST:PORT" another machine's head node
        ray_cpus_per_run = 1     # ray: CPUs each run's task asks for (1: one run per CPU)
        ray_gpus_per_run = 0     # ray: GPUs each run's task asks for (0.25: four runs share a GPU)

    environment: EMBEDDING_LAB_HOSTED, EMBEDDING_LAB_MAX_WORDS, EMBEDDING_LAB_MAX_EPOCHS,
    EMBEDDING_LAB_MAX_UPLOAD_MB, EMBEDDING_LAB_MAX_TRAININGS, EMBEDDING_LAB_MAX_TRAININGS_PER_USER,
    EMBEDDING_LAB_MAX_QUEUE, EMBEDDING_LAB_GALLERY, EMBEDDING_LAB_LOGIN, EMBEDDING_LAB_EXECUTOR,
    EMBEDDING_LAB_RAY_ADDRESS, EMBEDDING_LAB_RAY_CPUS_PER_RUN, EMBEDDING_LAB_RAY_GPUS_PER_RUN

Not hosted (the default, one person on their own machine): every run is visible to the user, and the
limits are the engine's own. A bad value is refused with a sentence naming the setting and where it came from.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from core.config import MAX_EPOCHS
from core.data.corpus import MAX_ITEMS, MAX_UPLOAD_BYTES
from core.paths import lab_home

EXECUTORS = ("local", "ray")  # core.runs.executors: where trainings run
RAY_REQUIREMENT = "ray==2.60.0"  # what a Ray deployment installs (on the server and every worker)
RAY_ADDRESS = re.compile(r"^(|local|auto|(ray://)?[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5})\Z")


@dataclass(frozen=True)
class HostSettings:
    hosted: bool = False
    max_words: int = MAX_ITEMS
    max_epochs: int = MAX_EPOCHS
    max_upload_mb: float = MAX_UPLOAD_BYTES / 2**20
    max_trainings: int = 1
    max_trainings_per_user: int = 1
    max_queue: int = 100
    gallery: bool = True
    login: bool = False
    executor: str = "local"
    ray_address: str = ""
    ray_cpus_per_run: float = 1.0
    ray_gpus_per_run: float = 0.0

    def __post_init__(self) -> None:
        bounds = {
            "max_words": (2, MAX_ITEMS),
            "max_epochs": (1, MAX_EPOCHS),
            "max_upload_mb": (0.001, MAX_UPLOAD_BYTES / 2**20),
            "max_trainings": (1, 64),
            "max_trainings_per_user": (1, 64),
            "max_queue": (1, 10_000),
            "ray_cpus_per_run": (0.01, 1024),
            "ray_gpus_per_run": (0, 64),
        }
        for name, (low, high) in bounds.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                raise ValueError(f"Hosting setting {name} must be between {low:g} and {high:g}, got {value!r}.")
        for name in ("hosted", "gallery", "login"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"Hosting setting {name} must be true or false, got {getattr(self, name)!r}.")
        if not isinstance(self.executor, str) or self.executor.strip().lower() not in EXECUTORS:
            raise ValueError(f"Hosting setting executor must be 'local' or 'ray', got {self.executor!r}.")
        object.__setattr__(self, "executor", self.executor.strip().lower())
        if not isinstance(self.ray_address, str) or not RAY_ADDRESS.match(self.ray_address.strip()):
            raise ValueError(
                "Hosting setting ray_address must be '' (Ray inside this server), 'auto' (the cluster `ray start` "
                f"runs on this machine) or HOST:PORT (e.g. 10.0.0.5:6379), got {self.ray_address!r}."
            )
        object.__setattr__(self, "ray_address", self.ray_address.strip())
        if self.executor == "ray" and importlib.util.find_spec("ray") is None:
            raise ValueError(
                "Hosting setting executor is 'ray' but Ray is not installed on this server: "
                f'`pip install {RAY_REQUIREMENT}` (here and on every worker), or set executor = "local".'
            )

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 2**20)


_ENV = {f.name: f"EMBEDDING_LAB_{f.name.upper()}" for f in fields(HostSettings)}
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


def _coerce(name: str, raw, source: str):
    kind = {f.name: f.type for f in fields(HostSettings)}[name]
    try:
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in _TRUE | _FALSE:
                return text in _TRUE
            raise ValueError
        if kind == "str":
            if not isinstance(raw, str):
                raise ValueError
            return raw.strip()
        if kind == "int":
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError
            return int(str(raw).strip()) if isinstance(raw, str) else int(raw)
        return float(raw)
    except (TypeError, ValueError):
        raise ValueError(
            f"Hosting setting {name} ({source}) must be "
            f"{'true or false' if kind == 'bool' else 'text' if kind == 'str' else 'a number'}, got {raw!r}."
        ) from None


def config_path(env=None) -> Path:
    env = os.environ if env is None else env
    if env.get("EMBEDDING_LAB_CONFIG"):
        return Path(env["EMBEDDING_LAB_CONFIG"]).expanduser()

    return lab_home() / "lab.toml"


def load_host_settings(env=None, path: Path | None = None) -> HostSettings:
    """File first, then the environment on top; raises ValueError with a sentence for anything unusable."""
    env = os.environ if env is None else env
    path = Path(path) if path is not None else config_path(env)
    values: dict = {}
    if path.exists():
        try:
            table = tomllib.loads(path.read_text(encoding="utf-8")).get("host", {})
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as err:
            raise ValueError(f"The settings file {path} cannot be read ({str(err).splitlines()[0][:120]}).") from None
        if not isinstance(table, dict):
            raise ValueError(f"The settings file {path} must hold a [host] table.")
        unknown = sorted(set(table) - set(_ENV))
        if unknown:
            raise ValueError(f"The settings file {path} has unknown host setting(s): {', '.join(unknown)}.")
        values.update({k: _coerce(k, v, str(path)) for k, v in table.items()})
    for name, var in _ENV.items():
        if var in env:
            values[name] = _coerce(name, env[var], var)
    return HostSettings(**values)


def owner_id(email: str | None = None, token: str | None = None) -> str:
    """Who owns a run: a logged-in user's (hashed) e-mail, else the browser's token. Hashed, so the store
    never holds an address, and short enough to sit in a run card."""
    if email:
        return "u-" + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:16]
    if token and token.isalnum() and 8 <= len(token) <= 64:
        # hashed too: the id is written in runs others may see (the gallery), the token is the credential
        return "t-" + hashlib.sha256(token.encode()).hexdigest()[:16]
    raise ValueError("No owner: neither a login nor a browser token.")
