"""Every example in the help of ``siamese`` (and each subcommand), ``siamese-train`` and ``siamese-export``, and
the command examples of the README, runs as written.

Each example runs in its own copy of a workspace that holds, under the names the examples use, what they need:
the golden bundle (``bundle/``, ``runs/demo/bundle``, ...), the golden image checkpoint (``runs/demo/model.pt``,
``runs/seed0/best.pt``, ...), tiny text and dialog bundles, a few images and class folders made from the golden
images and the embedded Omniglot subset, a text CSV, Lake-style one-shot runs and a publisher key pair. Only the
budget changes: training examples get ``--epochs 1 --batches-per-epoch 2`` (a ``--resume`` one one epoch more
than the run holds), ``siamese bench`` ``--runs 5 --batch 1``; ``siamese serve`` gets a free ``--port`` and counts
as run when its ``/v1/health`` answers, then it is stopped with Ctrl-C. An example that needs a device this machine
lacks (``--provider cuda``, ``tensorrt``) skips, saying so.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("cryptography")

from click.testing import CliRunner  # noqa: E402
from PIL import Image  # noqa: E402
from siamese_export.cli import main as export_main  # noqa: E402
from siamese_sdk.cli import main as siamese_main  # noqa: E402
from siamese_trainer.cli import main as train_main  # noqa: E402

pytestmark = pytest.mark.slow

ROOT = next(d for d in Path(__file__).resolve().parents if (d / "pyproject.toml").is_file())
GOLDEN = ROOT / "tests" / "data" / "golden"
COMMANDS = {"siamese": siamese_main, "siamese-train": train_main, "siamese-export": export_main}
TRAIN_BUDGET = ["--epochs", "1", "--batches-per-epoch", "2", "--threads", "1", "--quiet"]


def _help(command: list[str]) -> str:
    r = CliRunner().invoke(COMMANDS[command[0]], [*command[1:], "--help"], prog_name=command[0])
    assert r.exit_code == 0, r.output
    return r.output


def help_examples() -> list[tuple[str, str]]:
    """``(where, example line)`` for every example in the commands' help texts (after ``Example(s):``, and ``Then:``)."""
    helps = [["siamese"], *(["siamese", name] for name in sorted(siamese_main.commands)), ["siamese-train"], ["siamese-export"]]
    out = []
    for command in helps:
        inside = False
        for line in _help(command).splitlines():
            text = line.strip()
            if re.fullmatch(r"Examples?:", text):
                inside = True
                continue
            if text.startswith("Then: "):
                out.append((" ".join(command), text.removeprefix("Then: ")))
            elif inside and text.startswith(("siamese", "torchrun")):
                out.append((" ".join(command), text))
            elif inside and not text:
                inside = False
    return out


def readme_examples() -> list[tuple[str, str]]:
    """``("README.md", line)`` for each command line in the README's code blocks."""
    out, inside = [], False
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.strip().startswith("```"):
            inside = not inside
        elif inside and line.strip().startswith(("siamese ", "siamese-train ", "siamese-export ")):
            out.append(("README.md", line.strip()))
    return out


def _unique(found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """One of each command (an example shown in two places runs once), comments dropped, in the order found."""
    seen: dict[str, tuple[str, str]] = {}
    for where, line in found:
        seen.setdefault(shlex.join(shlex.split(line, comments=True)), (where, line))
    return list(seen.values())


EXAMPLES = _unique(help_examples() + readme_examples())


def test_every_command_has_examples_and_they_were_all_found():
    where = {w for w, _ in EXAMPLES}
    assert {"siamese-train", "siamese-export", "README.md", "siamese verify", "siamese gallery", "siamese bench"} <= where
    assert len(EXAMPLES) >= 35


def _images(folder: Path, names: list[str]) -> None:
    """Golden images saved under ``names`` (any suffix Pillow writes) in ``folder``."""
    golden = sorted((GOLDEN / "images").glob("*.png"))
    for i, name in enumerate(names):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.open(golden[i % len(golden)]).save(folder / name)


def _classes(folder: Path) -> Path:
    """The six golden images as three class folders."""
    _images(folder, ["a/1.png", "a/2.png", "b/1.png", "b/2.png", "c/1.png", "c/2.png"])
    return folder


def _omniglot(dest: Path, classes: int, per_class: int, alphabets: int = 1) -> Path:
    """``classes`` real Omniglot characters (from the embedded subset) as ``Alphabet_k/characterNN``."""
    from siamese_trainer.data.images import embedded_root

    chars = [c for a in sorted(p for p in embedded_root().iterdir() if p.is_dir()) for c in sorted(a.iterdir())]
    for i, char in enumerate(chars[:classes]):
        out = dest / f"Alphabet_{i % alphabets}" / f"character{i:02d}"
        out.mkdir(parents=True)
        for png in sorted(char.glob("*.png"))[:per_class]:
            shutil.copy(png, out / png.name)
    return dest


def _run(args: list[str], cwd: Path) -> None:
    r = CliRunner().invoke(COMMANDS[args[0]], args[1:], prog_name=args[0], catch_exceptions=False)
    assert r.exit_code == 0, f"{shlex.join(args)} in {cwd}:\n{r.output}"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, text_bundle, dialog_bundle) -> Path:
    ws = tmp_path_factory.mktemp("examples") / "ws"
    ws.mkdir()
    for name in ("bundle", "runs/demo/bundle", "runs/photos/bundle"):
        shutil.copytree(GOLDEN / "bundle", ws / name)
    shutil.copytree(text_bundle, ws / "text-bundle")
    shutil.copytree(dialog_bundle, ws / "dialog-bundle")
    model = GOLDEN / "image" / "model.pt"
    for name in ("runs/demo/model.pt", "runs/photos/model.pt", "runs/faces/model.pt", "runs/omniglot/best.pt",
                 "runs/seed0/best.pt", "runs/seed1/best.pt"):  # fmt: skip
        (ws / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(model, ws / name)
    names = ["a.png", "b.png", "probe.png", "sig_ref.png", "sig_new.png", "extra.png", "a.jpg", "b.jpg", "probe.jpg",
             "alice/new.jpg", "bob/1.jpg", "examples/a1.png", "examples/a2.png"]  # fmt: skip
    _images(ws, names)
    for name in ("enrolled", "my_faces", "my-labelled-photos", "val_faces"):
        _classes(ws / name)
    _omniglot(ws / "photos", 12, 6, alphabets=4)
    _omniglot(ws / "omniglot" / "train", 12, 6, alphabets=4)
    _omniglot(ws / "omniglot" / "images_evaluation", 20, 4)  # 20-way within one alphabet
    _omniglot(ws / "faces" / "train", 8, 4, alphabets=2)
    _omniglot(ws / "faces" / "val", 6, 4, alphabets=2)
    run = ws / "all_runs" / "run01"
    _images(run, ["training/class01.png", "training/class02.png", "training/class03.png"])
    _images(run, ["test/item01.png", "test/item02.png", "test/item03.png"])
    (run / "class_labels.txt").write_text("".join(f"run01/test/item0{i}.png run01/training/class0{i}.png\n" for i in (1, 2, 3)))
    from siamese_trainer.data.paraphrase_data import write_csv

    write_csv(ws / "questions.csv", "text", 120, intents=8)
    (ws / "keys.txt").write_text("# API keys, one a line\nexample-key-1\n")
    cwd = Path.cwd()
    os.chdir(ws)
    try:
        _run(["siamese", "keygen", "-o", "publisher"], ws)
        _run(["siamese", "sign", "runs/demo/bundle", "--key", "publisher.key"], ws)
        _run(["siamese", "gallery", "bundle/", "enrolled/", "-o", "gallery.npz"], ws)
    finally:
        os.chdir(cwd)
    return ws


def _budget(args: list[str]) -> list[str]:
    """The example with a small budget (module docstring)."""
    if args[0] == "siamese-train" and "--examples" not in args:
        if "--resume" in args:
            i = args.index("--epochs")
            return [*args[: i + 1], "2", *args[i + 2 :], "--quiet"]
        return [*args, *TRAIN_BUDGET]
    if args[:2] == ["siamese", "bench"]:
        return [*args, "--runs", "5", "--batch", "1"]
    return args


def _commands(words: list[str]) -> list[list[str]]:
    """``a ... && b ...`` as the commands ``a ...`` and ``b ...``."""
    out: list[list[str]] = [[]]
    for w in words:
        out.append([]) if w == "&&" else out[-1].append(w)
    return out


def _creates(args: list[str]) -> list[Path]:
    """The paths a command creates and refuses to overwrite: a new run folder, the ``--examples`` folder, a key pair."""
    def after(flag: str) -> str | None:
        return args[args.index(flag) + 1] if flag in args else None

    if args[0] == "siamese-train" and "--resume" not in args:
        return [Path(p) for p in (after("--out"), after("--examples")) if p is not None]
    if args[:2] == ["siamese", "keygen"]:
        return [Path(after("-o") + ".key"), Path(after("-o") + ".pub")]
    return []


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("sdk", "trainer", "export")), "OMP_NUM_THREADS": "1"}


def _serve(args: list[str], ws: Path) -> None:
    """Run ``siamese serve ...`` on a free port until ``/v1/health`` answers 200, then stop it with Ctrl-C."""
    import signal
    import socket
    import time
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    launch = "import sys; from siamese_sdk.cli import main; main(sys.argv[1:], prog_name='siamese')"
    from interrupts import default_sigint

    p = subprocess.Popen([sys.executable, "-c", launch, *args[1:], "--port", str(port)], cwd=ws, env=_env(),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=default_sigint)  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while True:
            assert p.poll() is None, p.communicate()[0]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=5) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "siamese serve did not answer within 180 s"
                time.sleep(0.5)
    finally:
        p.send_signal(signal.SIGINT)
        out = p.communicate(timeout=60)[0]
    assert "Traceback" not in out, out


def _needs_device(args: list[str]) -> str | None:
    import onnxruntime as ort

    wanted = {args[i + 1] for i, a in enumerate(args[:-1]) if a == "--provider"}
    names = {"cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}
    missing = [p for p in sorted(wanted) if p in names and names[p] not in ort.get_available_providers()]
    return f"needs {', '.join(missing)} (onnxruntime-gpu and a GPU), not on this machine" if missing else None


@pytest.mark.parametrize("where, example", EXAMPLES, ids=[f"{w}: {e}" for w, e in EXAMPLES])
def test_example_runs_as_written(where, example, workspace, tmp_path, monkeypatch):
    ws = Path(shutil.copytree(workspace, tmp_path / "ws", symlinks=True))
    monkeypatch.chdir(ws)
    for args in _commands(shlex.split(example, comments=True)):
        if (why := _needs_device(args)) is not None:
            pytest.skip(why)
        for made in _creates(args):  # what the example creates is not there yet
            shutil.rmtree(made, ignore_errors=True) if made.is_dir() else made.unlink(missing_ok=True)
        args = _budget(args)
        if args[:2] == ["siamese", "serve"]:
            _serve(args, ws)
            continue
        if args[0] == "torchrun":
            torchrun = [sys.executable, "-m", "torch.distributed.run", *args[1:], *TRAIN_BUDGET]
            r = subprocess.run(torchrun, cwd=ws, env=_env(), capture_output=True, text=True, timeout=600)
            assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
            continue
        _run(args, ws)
