"""Shared helpers: the repository's fixtures and the `diffcut` CLI the package must agree with."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"


def _cli_path() -> Path | None:
    if os.environ.get("DIFFCUT_BIN"):
        return Path(os.environ["DIFFCUT_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    p = target / "release" / "diffcut"
    if p.is_file():
        return p
    found = shutil.which("diffcut")
    return Path(found) if found else None


@pytest.fixture
def needs_model():
    """Skips a test of the diffusion functions on a build without the `model` feature, unless
    DIFFCUT_REQUIRE_MODEL=1 (./build.sh test sets it: there the build has it, and a skip would
    hide a broken build)."""
    import diffcut

    if not diffcut.FEATURES["model"]:
        if os.environ.get("DIFFCUT_REQUIRE_MODEL") == "1":
            pytest.fail("DIFFCUT_REQUIRE_MODEL=1 but this diffcut was built without the `model` feature")
        pytest.skip("built without the `model` feature (maturin develop --features model)")


@pytest.fixture(scope="session")
def cli():
    """Runs the `diffcut` binary (./build.sh test sets DIFFCUT_BIN); returns its CompletedProcess."""
    path = _cli_path()
    if path is None or not path.is_file():
        pytest.fail("the diffcut CLI is needed for the parity tests: build it (cargo build --release) "
                    "or set DIFFCUT_BIN")

    def run(*args, check=True):
        p = subprocess.run([str(path), *map(str, args)], capture_output=True, text=True)
        if check and p.returncode != 0:
            raise AssertionError(f"diffcut {' '.join(map(str, args))} failed:\n{p.stderr}")
        return p

    return run
