"""The prepared data a server shares: one `PreparedData` (the word list lemmatized, and the teacher's vectors of its
items) per (teacher, word list, lemmatization) for every visitor, the few most recent kept in memory, with what each
call cost in teacher answers (paid for now, or served from the disk cache or from memory).

    cache = PreparedCache(size=8)
    got = cache.prepare(("minilm", vocab.label, mode), lambda: teacher, lambda: lemmatize(vocab.words, mode), mode)
    got.data, got.queried, got.cached      # the data; answers paid for by this call; answers it did not pay for

A class that starts from the default words holds one copy of the teacher's vectors, not one per person. The arrays
are shared: they are made read-only. (A plain least-recently-used dict: `functools.lru_cache` cannot take the
progress callback of the computation it would keep, and no library in the stack offers more for this.)
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path

from core.config import LemmaMode
from core.data.lemmatize import LemmaResult
from core.errors import StorageUnavailable
from core.runs.experiment import PreparedData
from core.teachers.teacher import CachedTeacher, TeacherUnavailable, cached_vectors

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Prepared:
    """A `PreparedCache` answer: the data, the teacher answers this call paid for (`queried`), and those it took from
    the disk cache or from memory (`cached`)."""

    data: PreparedData
    queried: int
    cached: int


class PreparedCache:
    """The `size` most recently used prepared data of a server, by key (teacher name, word list label, lemmatization);
    safe from any thread."""

    def __init__(self, size: int = 8):
        self.size = max(1, int(size))
        self._items: OrderedDict[Hashable, PreparedData] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable) -> PreparedData | None:
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: Hashable, data: PreparedData) -> PreparedData:
        with self._lock:
            self._items[key] = data
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return data

    def prepare(
        self,
        key: Hashable,
        teacher: Callable[[], CachedTeacher],
        lemmas: Callable[[], LemmaResult],
        mode: LemmaMode,
        progress: Progress | None = None,
        before: Callable[[], object] | None = None,
        disk: tuple[Path, str] | None = None,
    ) -> Prepared:
        """The prepared data under `key`: from memory (nothing asked, nothing loaded), else the items (`lemmas()`)
        and their vectors from `teacher()` (loaded only then), only the items missing from its disk cache asked
        for. `disk` (the teachers' cache folder, the teacher's id): when that cache already holds every vector they
        are read from it with no model loaded (a fresh server's first Try it: loading MPNet was 4.6 s of its click).
        `before()` runs before the teacher is asked (the server waits there for its warm-up when that computes
        these very vectors). The answers are counted per call: the teacher's own counters are shared by every
        visitor and the warm-up, so a before/after difference would count their work too."""
        found = self.get(key)
        if found is not None:
            if progress:
                progress(len(found.items), len(found.items))
            return Prepared(found, 0, len(found.items))
        result = lemmas()
        got = self._from_cache(key, result, mode, disk, progress)
        if got is None and before is not None:
            before()  # the warm-up may have just computed them: read the disk once more before loading a model
            got = self._from_cache(key, result, mode, disk, progress)
        if got is not None:
            return got
        model = teacher()
        items = list(result.lemmas)
        to_ask = len(model.missing(items))
        clean = model.embed(items, progress=progress)
        clean.setflags(write=False)
        data = self.put(key, PreparedData(result, clean, model.id, mode))
        return Prepared(data, to_ask, len(items) - to_ask)

    def _from_cache(self, key, result: LemmaResult, mode: LemmaMode, disk, progress) -> Prepared | None:
        """`prepare`'s read of the teacher's disk cache with no model loaded; None when `disk` is None or some vector
        is not there."""
        if disk is None:
            return None
        try:
            data = self._read_disk(key, result, mode, *disk)
        except (TeacherUnavailable, StorageUnavailable, ValueError):
            # some vector never computed, or a cache that cannot be read as it is (locked, damaged: DamagedData is a
            # ValueError): the teacher computes what is missing, and salvages a damaged cache its own way
            return None
        if progress:
            progress(len(data.items), len(data.items))
        return Prepared(data, 0, len(data.items))

    def _read_disk(self, key, result: LemmaResult, mode: LemmaMode, cache_root, teacher_id: str) -> PreparedData:
        """Every item's vector from the teacher's disk cache (no model loaded), kept under `key`; raises as
        `cached_vectors` does."""
        clean = cached_vectors(cache_root, teacher_id, list(result.lemmas))
        clean.setflags(write=False)
        return self.put(key, PreparedData(result, clean, teacher_id, mode))

    def from_disk(self, key: Hashable, cache_root, teacher_id: str, lemmas: Callable[[], LemmaResult], mode: LemmaMode):
        """The prepared data under `key` from memory, else from the teacher's disk cache when it holds every vector
        (no model loaded, nothing asked); None when some vector was never computed
        (`core.teachers.teacher.TeacherUnavailable` from the cache)."""
        found = self.get(key)
        if found is not None:
            return found
        try:
            return self._read_disk(key, lemmas(), mode, cache_root, teacher_id)
        except TeacherUnavailable:
            return None
