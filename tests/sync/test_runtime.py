"""Process-wide tuning the long-running commands apply at start-up."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from sync.runtime import GC_THRESHOLDS, tune_garbage_collector


@pytest.fixture
def restored_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.usefixtures("restored_gc")
def test_the_collector_runs_less_often_and_skips_what_start_up_loaded() -> None:
    gc.unfreeze()
    tune_garbage_collector()
    assert gc.get_threshold() == GC_THRESHOLDS
    assert gc.get_freeze_count() > 0
    assert GC_THRESHOLDS[0] > 700  # above CPython's default, or there is no point
