"""The runtime's suite never imports torch: while its tests run, ``import torch`` fails (``conftest.TorchBlocker``)."""

from __future__ import annotations

import sys

import pytest


def test_torch_is_blocked_while_the_sdk_tests_run(torch_blocker):
    blocker, effective = torch_blocker
    assert blocker.active
    if not effective:
        pytest.skip("torch was imported before tests/sdk in this process: run `pytest tests/sdk` alone (scripts/test.sh does)")
    assert "torch" not in sys.modules
    with pytest.raises(ImportError, match="tests/sdk runs without torch"):
        import torch  # noqa: F401
