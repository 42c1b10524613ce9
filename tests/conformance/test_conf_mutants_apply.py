"""The mutation check's patches (tests/conformance/mutants/) still apply to the server as it is now, each names
a violation and the capability expected to catch it. Running them is `nox -s conformance-mutants`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conf_mutants import MUTANTS, header
from conf_reference import ROOT
from conftest import unavailable

from conformance.capabilities import BY_NAME

PATCHES = sorted(MUTANTS.glob("*.patch"))


def test_at_least_twelve_mutants() -> None:
    assert len(PATCHES) >= 12
    assert len({header(p)[1] for p in PATCHES}) >= 10  # spread over capabilities


@pytest.mark.parametrize("patch", PATCHES, ids=[p.stem for p in PATCHES])
def test_patch_applies(patch: Path) -> None:
    if shutil.which("patch") is None:
        unavailable("GNU patch is not installed (the mutation check applies its patches with it)")
    violation, capability = header(patch)
    assert violation != patch.stem and capability in BY_NAME
    done = subprocess.run(["patch", "-p1", "--dry-run", "--forward", "--batch", "-d", str(ROOT), "-i", str(patch)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
