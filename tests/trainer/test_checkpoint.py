"""Checkpoints load with ``weights_only``: pickled code is refused without running, anything else not ours too."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402
from siamese_sdk.errors import BundleError  # noqa: E402
from siamese_trainer import checkpoint  # noqa: E402


class CreatesFileWhenUnpickled:
    """A pickle payload that calls ``open(marker, "w")`` on load: code execution, harmless but visible."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _evil_files(tmp_path: Path) -> tuple[Path, list[Path]]:
    marker = tmp_path / "pwned"
    payload = {"format": checkpoint.FORMAT, "format_version": 1, "state_dict": CreatesFileWhenUnpickled(marker)}
    torch.save(payload, tmp_path / "evil_torch.pt")
    with open(tmp_path / "evil_pickle.pt", "wb") as f:
        pickle.dump(payload, f, protocol=2)
    assert not marker.exists()
    return marker, [tmp_path / "evil_torch.pt", tmp_path / "evil_pickle.pt"]


def test_the_payload_really_runs_code_under_plain_pickle(tmp_path):
    """Guards the test below: unpickling the payload without protection does create the marker."""
    marker, (_, plain) = _evil_files(tmp_path)
    with open(plain, "rb") as f:
        pickle.load(f).get("state_dict").close()
    assert marker.exists()


def test_pickled_code_is_refused_and_never_runs(tmp_path):
    marker, files = _evil_files(tmp_path)
    for path in files:
        with pytest.raises(BundleError, match="holds objects other than weights") as e:
            checkpoint.load(path)
        assert "nothing executed" in str(e.value) and "\n" not in str(e.value)
    assert not marker.exists()


def test_round_trip(tmp_path):
    sd = {"w": torch.arange(6.0).reshape(2, 3)}
    checkpoint.save(tmp_path / "model.pt", {"state_dict": sd, "epoch": 3, "history": [{"auc": 0.5}]})
    ckpt = checkpoint.load(tmp_path / "model.pt")
    assert ckpt["format"] == checkpoint.FORMAT and ckpt["format_version"] == checkpoint.FORMAT_VERSION
    assert torch.equal(ckpt["state_dict"]["w"], sd["w"]) and ckpt["epoch"] == 3 and ckpt["history"] == [{"auc": 0.5}]
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]  # no temp file left


@pytest.mark.parametrize(
    "payload", [{"a": torch.zeros(1)}, [torch.zeros(1)], {"format": "something-else", "state_dict": {}}, torch.zeros(3)]
)
def test_torch_file_that_is_not_ours(tmp_path, payload):
    torch.save(payload, tmp_path / "other.pt")
    with pytest.raises(BundleError, match="is a torch file but not a siamese-train checkpoint"):
        checkpoint.load(tmp_path / "other.pt")


def test_newer_format_version(tmp_path):
    torch.save({"format": checkpoint.FORMAT, "format_version": checkpoint.FORMAT_VERSION + 1}, tmp_path / "new.pt")
    with pytest.raises(BundleError, match="newer siamese-train"):
        checkpoint.load(tmp_path / "new.pt")


def test_missing_path_and_directory(tmp_path):
    with pytest.raises(BundleError, match="checkpoint not found"):
        checkpoint.load(tmp_path / "nope.pt")
    with pytest.raises(BundleError, match="is a directory"):
        checkpoint.load(tmp_path)


@pytest.mark.parametrize("keep", [0.5, 0.9, 10])
def test_truncated_file(tmp_path, keep: float):
    path = checkpoint.save(tmp_path / "model.pt", {"state_dict": {"w": torch.randn(64, 64)}})
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)] if keep < 1 else data[: int(keep)])
    with pytest.raises(BundleError, match="not a readable torch checkpoint"):
        checkpoint.load(path)


@pytest.mark.parametrize("content", [b"", b"hello, not a checkpoint\n", b"just some notes\n"], ids=["empty", "h-text", "j-text"])
def test_other_file_types(tmp_path, content: bytes):
    # text starting with 'h' or 'j' reads as pickle memo opcodes: torch's unpickler raises a bare KeyError
    (tmp_path / "model.pt").write_bytes(content)
    with pytest.raises(BundleError, match="not a readable torch checkpoint"):
        checkpoint.load(tmp_path / "model.pt")


@pytest.mark.parametrize("seed", range(5))
def test_random_bytes(tmp_path, seed: int):
    (tmp_path / "model.pt").write_bytes(np.random.default_rng(seed).bytes(500))
    with pytest.raises(BundleError) as e:
        checkpoint.load(tmp_path / "model.pt")
    assert "\n" not in str(e.value)


def _one_line_error(result) -> str:
    assert result.exit_code not in (0, None), result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)  # handled, not a crash
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


def test_export_cli_refuses_pickled_code(tmp_path):
    pytest.importorskip("onnx")
    from siamese_export.cli import main as export

    marker, files = _evil_files(tmp_path)
    for path in files:
        r = CliRunner().invoke(export, [str(path), "-o", str(tmp_path / "bundle")])
        assert "holds objects other than weights" in _one_line_error(r)
    assert not marker.exists()
    assert not (tmp_path / "bundle").exists()


@pytest.mark.parametrize(
    "make, expect",
    [
        ("foreign", "not a siamese-train checkpoint"),
        ("missing", "checkpoint not found"),
        ("text", "not a readable torch checkpoint"),
    ],
)
def test_export_cli_other_bad_checkpoints(tmp_path, make: str, expect: str):
    pytest.importorskip("onnx")
    from siamese_export.cli import main as export

    path = tmp_path / "model.pt"
    if make == "foreign":
        torch.save({"a": torch.zeros(1)}, path)
    elif make == "text":
        path.write_text("hello, this is a README\n")
    r = CliRunner().invoke(export, [str(path)])
    assert expect in _one_line_error(r)
