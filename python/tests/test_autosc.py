"""autosc: the official AutoSC's labels (tests/fixtures/autosc, made by running the official
diffcut/autosc.py), parity with ``diffcut ncut --method autosc``, and its refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest

import diffcut
from conftest import FIXTURES, ROOT

META = json.loads((FIXTURES / "autosc" / "cases.json").read_text())
CASES = META["cases"]


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Cells that keep their cluster under the best one-to-one matching of cluster ids."""
    from itertools import permutations

    ia, a = np.unique(a.reshape(-1), return_inverse=True)
    ib, b = np.unique(b.reshape(-1), return_inverse=True)
    table = np.zeros((len(ia), len(ib)), np.int64)
    np.add.at(table, (a, b), 1)
    if table.shape[0] > table.shape[1]:
        table = table.T
    # Few clusters: every assignment of the smaller side's ids.
    best = max(sum(table[i, p[i]] for i in range(table.shape[0])) for p in permutations(range(table.shape[1]), table.shape[0]))
    return best / a.size


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_the_official_autosc_partitions(case):
    feats = np.load(ROOT / case["features"])
    want = np.load(ROOT / case["labels"])
    got = diffcut.autosc(feats)
    assert got.labels.dtype == np.int32 and got.labels.shape == feats.shape[:2]
    assert len(np.unique(got.labels)) == case["segments"]
    if case["segments"] <= 7:
        assert agreement(got.labels, want) >= 0.99
    assert sorted(got.eigengaps) == [1.0, 5.0, 10.0, 15.0]
    gaps = got.eigengaps[got.alpha]
    assert int(np.argmax(gaps)) == got.clusters
    assert all(gaps.max() <= got.eigengaps[got.alpha].max() for gaps in got.eigengaps.values())


def test_equals_the_cli(cli, tmp_path):
    case = next(c for c in CASES if c["name"] == "photo_astronaut")
    out = tmp_path / "l.npy"
    cli("ncut", ROOT / case["features"], "--method", "autosc", "--out", out)
    np.testing.assert_array_equal(diffcut.autosc(np.load(ROOT / case["features"])).labels, np.load(out))


def test_refuses_what_it_cannot_cluster():
    with pytest.raises(ValueError, match="64×64"):
        diffcut.autosc(np.ones((65, 64, 2), np.float32))
    zero = np.ones((3, 4, 2), np.float32)
    zero[1, 2] = 0
    with pytest.raises(ValueError, match=r"cell \[1, 2\] has no affinity"):
        diffcut.autosc(zero)
    with pytest.raises(ValueError, match="float32"):
        diffcut.autosc(np.ones((4,), np.float32))
