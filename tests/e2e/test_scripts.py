"""The set-up scripts a new user and CI run: ``.ci/run`` is the README's test command, ``scripts/test.sh`` installs
what the browser test needs (``scripts/test_deps.sh``: each step skipped when done, a one-line error naming the
fix when it cannot install), and both the README and ``scripts/demo.sh`` say how to get the commands on PATH."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = next(d for d in Path(__file__).resolve().parents if (d / "pyproject.toml").is_file())


def _code_lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_ci_runs_exactly_the_readme_test_command():
    assert _code_lines(ROOT / ".ci" / "run") == ['exec "$(dirname "$0")/../scripts/test.sh" "$@"    # the README\'s test command: it installs everything its tests need']
    assert "scripts/test.sh    # install into .venv" in (ROOT / "README.md").read_text()
    test_sh = _code_lines(ROOT / "scripts" / "test.sh")
    deps, pytest_ = test_sh.index("scripts/test_deps.sh"), next(i for i, line in enumerate(test_sh) if "-m pytest" in line)
    assert deps < pytest_ and os.access(ROOT / "scripts" / "test_deps.sh", os.X_OK)


def test_readme_and_demo_say_how_to_put_the_commands_on_path():
    assert "source .venv/bin/activate" in (ROOT / "README.md").read_text()
    tail = (ROOT / "scripts" / "demo.sh").read_text().strip().splitlines()[-4:]
    assert any("source .venv/bin/activate" in line and line.startswith("echo") for line in tail), tail


def _tools(tmp_path: Path, *names: str) -> Path:
    """A PATH folder holding only ``names`` (links to this machine's executables)."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    for name in names:
        found = shutil.which(name)
        assert found is not None, f"{name} is not installed here"
        (bin_ / name).symlink_to(found)
    return bin_


BASICS = ("bash", "id", "dirname", "cat", "sha256sum", "cut", "env")


def test_deps_script_does_nothing_when_everything_is_installed():
    """Chromium, node, npm and sdk/js/node_modules are here (scripts/test.sh ran it): every step is skipped."""
    r = subprocess.run([str(ROOT / "scripts" / "test_deps.sh")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", (r.stdout, r.stderr)


def test_deps_script_names_what_is_missing_and_the_fix_when_it_cannot_install(tmp_path):
    bin_ = _tools(tmp_path, *BASICS, "node", "npm")  # no apt-get, no sudo
    env = {"PATH": str(bin_), "SIAMESE_CHROMIUM": str(tmp_path / "no-chromium")}
    r = subprocess.run([str(ROOT / "scripts" / "test_deps.sh")], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 1 and r.stdout == "", r
    assert r.stderr.count("\n") == 1 and "chromium missing" in r.stderr and "install" in r.stderr, r.stderr
    r = subprocess.run(
        [str(ROOT / "scripts" / "test_deps.sh")], capture_output=True, text=True, env={**env, "SIAMESE_SKIP_BROWSER": "1"}
    )
    assert r.returncode == 0 and r.stderr == ""
