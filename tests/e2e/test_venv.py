"""The runtime wheel (``scripts/build_dist.py cpu``, no extras) in a fresh venv: no torch, no training code, small,
and it loads and verifies our bundles; the train wheel on top brings ``siamese-train`` and ``siamese-export``."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


#: the bare runtime venv's site-packages, without the installer's own packages, must stay within this (MiB)
SITE_PACKAGES_LIMIT_MIB = 180
INSTALLER = ("pip", "setuptools", "pkg_resources", "_distutils_hack")


@pytest.fixture(scope="module")
def dist_wheels(tmp_path_factory) -> dict[str, Path]:
    """``scripts/build_dist.py cpu train`` from this checkout: ``{"cpu": runtime wheel, "train": train wheel}``."""
    out_dir = tmp_path_factory.mktemp("dist")
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_dist.py"), "cpu", "train", "-o", str(out_dir)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    cpu, train = (Path(line) for line in out.stdout.strip().splitlines()[-2:])
    return {"cpu": cpu, "train": train}


def site_packages_mib(env_dir: Path) -> float:
    """Bytes of the venv's site-packages in MiB, without pip, setuptools and their helpers (and their dist-info)."""
    (site,) = env_dir.glob("lib/python*/site-packages")
    total = 0
    for top in site.iterdir():
        if top.name.split("-")[0] in INSTALLER or top.name == "distutils-precedence.pth":
            continue
        total += sum(f.stat().st_size for f in [top, *top.rglob("*")] if f.is_file())
    return total / 2**20


@pytest.fixture(scope="module")
def runtime_venv(tmp_path_factory, dist_wheels) -> tuple[Path, dict[str, str], float]:
    """A fresh venv with the built runtime wheel (no extras): ``(venv_dir, env, site-packages MiB)``.

    The size is measured right after the install, before any test adds packages.
    """
    env_dir = tmp_path_factory.mktemp("sdk-venv") / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    install = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(dist_wheels["cpu"])],
        capture_output=True,
        text=True,
        env=env,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    return env_dir, env, site_packages_mib(env_dir)


@pytest.fixture(scope="module")
def sdk_venv(runtime_venv) -> tuple[Path, dict[str, str]]:
    """The runtime venv as ``(venv_dir, env)``. Shared by the module.

    Tests for other model kinds reuse it through ``run_in_venv``: one install per test run.
    """
    return runtime_venv[0], runtime_venv[1]


def run_in_venv(sdk_venv: tuple[Path, dict[str, str]], script: str) -> str:
    """Run ``script`` with the torch-free venv's python (asserting torch and onnx are absent); its stdout."""
    env_dir, env = sdk_venv
    guard = (
        "import importlib.util\n"
        "assert importlib.util.find_spec('torch') is None, 'torch is installed'\n"
        "assert importlib.util.find_spec('onnx') is None, 'onnx is installed'\n"
    )
    run = subprocess.run(
        [str(env_dir / "bin" / "python"), "-c", guard + textwrap.dedent(script)], capture_output=True, text=True, env=env
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


@pytest.mark.venv
@pytest.mark.slow
def test_fresh_venv_without_torch_runs_the_bundle(sdk_venv, bundle, tiny_data, tmp_path):
    env_dir, env = sdk_venv
    imgs = sorted(tiny_data.rglob("*.png"))
    out = run_in_venv(
        sdk_venv,
        f"""
        import json
        import siamese_sdk
        m = siamese_sdk.load({str(bundle)!r})
        r = m.verify([{str(imgs[0])!r}, {str(imgs[0])!r}], [{str(imgs[0])!r}, {str(imgs[-1])!r}])
        print(json.dumps({{"variant": m.variant, "same": r.same.tolist(), "scores": r.scores.tolist()}}))
        """,
    )
    res = json.loads(out)
    assert res["same"][0] is True and res["scores"][0] < 1e-3

    # the torch-free CLI works; the runtime wheel has neither the training packages nor their commands
    bin_dir = env_dir / "bin"
    cli = subprocess.run(
        [str(bin_dir / "siamese"), "verify", str(bundle), str(imgs[0]), str(imgs[1])], capture_output=True, text=True, env=env
    )
    assert cli.returncode == 0 and ("SAME" in cli.stdout or "DIFFERENT" in cli.stdout), cli.stderr
    assert not (bin_dir / "siamese-train").exists() and not (bin_dir / "siamese-export").exists()
    run_in_venv(sdk_venv, "assert importlib.util.find_spec('siamese_trainer') is None\nassert importlib.util.find_spec('siamese_export') is None")


@pytest.mark.venv
@pytest.mark.slow
def test_bare_runtime_venv_stays_small(runtime_venv):
    """site-packages of the runtime wheel's venv (without pip and setuptools): no training code, no training data."""
    size = runtime_venv[2]
    print(f"\nSDK venv site-packages without pip/setuptools: {size:.1f} MiB (limit {SITE_PACKAGES_LIMIT_MIB})")
    sys.stdout.flush()
    assert size <= SITE_PACKAGES_LIMIT_MIB


@pytest.mark.venv
@pytest.mark.slow
def test_train_wheel_without_torch_names_the_extra(sdk_venv, dist_wheels, tmp_path):
    """The train wheel on top of the runtime (``--no-deps``: no torch download): its commands name the extra."""
    env_dir, env = sdk_venv
    bin_dir = env_dir / "bin"
    pip = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check", str(dist_wheels["train"])],
        capture_output=True,
        text=True,
        env=env,
    )
    assert pip.returncode == 0, pip.stderr[-2000:]
    train = subprocess.run(
        [str(bin_dir / "siamese-train"), "--out", str(tmp_path / "r")], capture_output=True, text=True, env=env
    )
    assert train.returncode == 1 and "pip install 'siamese-sdk[train]'" in train.stderr and "Traceback" not in train.stderr
    export = subprocess.run([str(bin_dir / "siamese-export"), "x.pt"], capture_output=True, text=True, env=env)
    assert export.returncode == 1 and "siamese-sdk[train]" in export.stderr


@pytest.mark.venv
@pytest.mark.slow
def test_train_wheel_over_the_runtime_wheel_with_torch(dist_wheels, tmp_path):
    """Both wheels in a venv that sees this interpreter's torch (a ``.pth`` line, nothing downloaded): the commands run."""
    torch_spec = importlib.util.find_spec("torch")
    if torch_spec is None or torch_spec.origin is None:
        pytest.skip("torch is not installed here; the train wheel's commands are checked without it above")
    shared = Path(torch_spec.origin).parents[1]  # the site-packages holding torch, onnx, pip, ...
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    (site,) = env_dir.glob("lib/python*/site-packages")
    (site / "shared-site-packages.pth").write_text(f"{shared}\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    py = str(env_dir / "bin" / "python")
    pip = subprocess.run(
        [py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--ignore-installed", "--disable-pip-version-check",
         *(str(w) for w in dist_wheels.values())],
        capture_output=True,
        text=True,
        env=env,
    )
    assert pip.returncode == 0, pip.stderr[-2000:]
    where = subprocess.run(
        [py, "-c", "import siamese_sdk, siamese_trainer, siamese_export; print(siamese_sdk.__file__, siamese_trainer.__file__, siamese_export.__file__)"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert where.returncode == 0, where.stderr[-2000:]
    assert all(Path(f).is_relative_to(site) for f in where.stdout.split()), where.stdout
    assert (site / "siamese_trainer" / "datasets" / "omniglot_mini" / "images.zip").is_file()
    for command, flag in (("siamese-train", "--out"), ("siamese-export", "--help")):
        run = subprocess.run([str(env_dir / "bin" / command), "--help"], capture_output=True, text=True, env=env)
        assert run.returncode == 0 and flag in run.stdout and "Traceback" not in run.stderr, run.stderr[-2000:]


@pytest.mark.venv
@pytest.mark.slow
def test_fresh_venv_without_torch_runs_text_and_dialog_bundles(sdk_venv, text_bundle, dialog_bundle):
    env_dir, env = sdk_venv
    py = str(env_dir / "bin" / "python")
    if subprocess.run([py, "-c", "import tokenizers"], capture_output=True).returncode != 0:
        # a subword text bundle needs the text extra: without it, one line naming the extra
        bare = subprocess.run([str(env_dir / "bin" / "siamese"), "verify", str(text_bundle), "where is my order", "where is my parcel"], capture_output=True, text=True, env=env)
        assert bare.returncode != 0 and "siamese-sdk[text]" in bare.stderr and "Traceback" not in bare.stderr, bare.stderr
        pip = subprocess.run(
            [py, "-m", "pip", "install", "-q", "--disable-pip-version-check", f"tokenizers=={importlib.metadata.version('tokenizers')}"],
            capture_output=True,
            text=True,
        )
        assert pip.returncode == 0, pip.stderr[-2000:]
    out = run_in_venv(
        sdk_venv,
        f"""
        import json
        import siamese_sdk
        t = siamese_sdk.load({str(text_bundle)!r})
        e = t.embed(["how do i reset my password", "where is my order", "a much longer question about my order and my card"])
        r = t.verify(["where is my order"], ["where is my order"])
        d = siamese_sdk.load({str(dialog_bundle)!r})
        f = d.embed([["hi", "hello there", "i lost my card"], ["my card was stolen"]])
        print(json.dumps({{"text": list(e.shape), "same": bool(r.same[0]), "dialog": list(f.shape)}}))
        """,
    )
    assert json.loads(out) == {"text": [3, 16], "same": True, "dialog": [2, 16]}
    cli = subprocess.run(
        [str(env_dir / "bin" / "siamese"), "verify", str(text_bundle), "how do i reset my password", "how can i change my password"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert cli.returncode == 0 and ("SAME" in cli.stdout or "DIFFERENT" in cli.stdout), cli.stderr


@pytest.mark.venv
@pytest.mark.slow
def test_fresh_venv_runs_the_image_kinds(sdk_venv, signet_lrn, backbone_run, learned_run, pseudo_run, tiny_data):
    """SigNet, a user backbone, the learned head and a pseudo-Siamese bundle, all through the torch-free SDK."""
    imgs = sorted(tiny_data.rglob("*.png"))
    pseudo_bundle, sketches = pseudo_run[1], pseudo_run[2]
    out = run_in_venv(
        sdk_venv,
        f"""
        import json
        import siamese_sdk
        a, b = {str(imgs[0])!r}, {str(imgs[-1])!r}
        res = {{}}
        for name, path in (("signet", {str(signet_lrn[1])!r}), ("backbone", {str(backbone_run[1])!r}), ("learned", {str(learned_run[1])!r})):
            m = siamese_sdk.load(path)
            r = m.verify([a, a], [a, b])
            res[name] = {{"hic": r.higher_is_closer, "scores": r.scores.tolist(), "same": r.same.tolist(), "t": r.threshold}}
        m = siamese_sdk.load({str(pseudo_bundle)!r})
        try:
            m.embed([a])
            res["pseudo_error"] = None
        except siamese_sdk.InputError as e:
            res["pseudo_error"] = str(e)
        r = m.verify([a], [{str(sketches / imgs[0].relative_to(tiny_data))!r}])
        res["pseudo"] = {{"branches": list(m.branches), "dim": m.embed([a], branch="a").shape[1], "scores": r.scores.tolist()}}
        print(json.dumps(res))
        """,
    )
    res = json.loads(out)
    for name in ("signet", "backbone"):
        assert res[name]["hic"] is False and res[name]["same"][0] is True and res[name]["scores"][0] < 1e-3
    learned = res["learned"]
    assert learned["hic"] is True and all(0 <= s <= 1 for s in learned["scores"])
    assert learned["same"] == [s >= learned["t"] for s in learned["scores"]]
    assert "branch='a'" in res["pseudo_error"] and res["pseudo"]["branches"] == ["a", "b"] and res["pseudo"]["dim"] == 16


@pytest.mark.venv
@pytest.mark.slow
def test_fresh_venv_without_torch_passes_the_golden_bundle_tests(sdk_venv, dist_wheels):
    """``tests/sdk/test_golden_bundle.py`` (the SDK against the checked-in bundle) and ``tests/sdk/test_signed_bundles.py``
    (signatures, path checks, sealed galleries) pass with pytest in the torch-free venv, with the ``signing`` extra."""
    env_dir, env = sdk_venv
    py = str(env_dir / "bin" / "python")
    pip = subprocess.run(
        [py, "-m", "pip", "install", "-q", "--disable-pip-version-check", "pytest", f"{dist_wheels['cpu']}[signing]"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert pip.returncode == 0, pip.stderr[-2000:]
    run_in_venv(sdk_venv, "")  # torch and onnx are still absent
    files = [str(next(ROOT.glob(f"tests/**/{name}"))) for name in ("test_golden_bundle.py", "test_signed_bundles.py")]
    tests = subprocess.run(
        [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert tests.returncode == 0, (tests.stdout + tests.stderr)[-3000:]
    assert " passed" in tests.stdout and "skipped" not in tests.stdout, tests.stdout[-2000:]
