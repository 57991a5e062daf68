"""Property-based fuzzing, a short run of every target in ``tests/fuzz_targets.py`` (the long run is
``benchmarks/fuzz.py``): manifests, gallery files, image bytes of every mode and arrays into ``embed`` /
``distance`` / ``verify`` / ``Gallery`` give a correct result or a one-line ``SiameseError``, nothing else.

Runs on the checked-in golden bundle: no torch, no training; a few seconds in all.
"""

from __future__ import annotations

import pytest
from fuzz_targets import TARGETS
from hypothesis import HealthCheck, given, settings

SHORT = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_fuzz_target(name):
    strategy, check = TARGETS[name]
    given(strategy)(SHORT(lambda case: check(case)))()
