"""A six-second run of ``benchmarks/soak.py`` (2 processes x 2 threads) over the golden bundle: every check passes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = next(d for d in Path(__file__).resolve().parents if (d / "benchmarks" / "soak.py").is_file())


@pytest.mark.slow
def test_soak_short(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "soak.py"), "--minutes", "0.1", "--threads", "2", "--procs", "2"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "sdk"), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([*cmd, "--json", str(out)], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    s = json.loads(out.read_text())
    assert s["ok"] and s["mismatches"] == 0 and s["errors"] == 0
    assert s["processes"] == 2 and s["threads_per_process"] == 2 and len(s["per_process"]) == 2
    for kind in ("embed", "verify", "add", "remove", "search", "save", "reload", "shared_search"):
        assert s["calls"][kind] > 0, kind
    for p in s["per_process"]:
        assert p["rss_flat"] and not p["stray_tmp_files"]
        assert p["rss_mib"]["end"] > 0
    assert "all checks passed" in r.stdout
