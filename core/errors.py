"""The errors whose message is a sentence for the person at the keyboard (a leaf: imports nothing of core).

Every reader of the store and of the caches raises one of these instead of whatever the file format's
library raised (polars' ComputeError, sqlite3's DatabaseError, json's RecursionError, a PermissionError):
the CLI prints the message and exits 2, a page shows it with `st.error`, and nothing is moved or
overwritten on the way.

    >>> raise DamagedData("The run abc's epochs.parquet is damaged (not a Parquet file): delete the run or import it again.")
    Traceback (most recent call last):
    ...
    core.errors.DamagedData: The run abc's epochs.parquet is damaged (not a Parquet file): delete the run or import it again.
"""

from __future__ import annotations


class LabError(Exception):
    """Base of the lab's own errors: `str(err)` is one sentence a user can act on."""


class DamagedData(LabError, ValueError):
    """A stored thing (a run's file, a cache, an imported zip) is damaged or is not what it claims to be.
    A ValueError, so the handlers that already catch bad values catch it too."""


class StorageUnavailable(LabError, RuntimeError):
    """The lab's home (or a cache in it) cannot be used right now: read-only, locked by another process past
    the wait, or the disk is full. Nothing was changed; the sentence says what to do."""
