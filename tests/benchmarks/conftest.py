"""Tests of the research tools in ``benchmarks/`` (the CPU limit probe, the competitors): importable by name."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
