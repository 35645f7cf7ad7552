"""Fixtures of the browser tests: the folder their screenshots go to."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.servers import screenshots_dir


@pytest.fixture(scope="session")
def shots(tmp_path_factory) -> Path:
    """$LAB_SCREENSHOTS under `make screenshots` (docs/screenshots), else a temporary folder: a plain test run
    changes nothing in the working tree."""
    return screenshots_dir(tmp_path_factory.mktemp("screenshots"))
