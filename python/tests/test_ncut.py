"""recursive_ncut and SegmentTree: the golden partitions (NumPy reference), exact parity with the
CLI, the GIL released, and bad input refused with the CLI's message."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

import diffcut
from conftest import FIXTURES

NCUT = FIXTURES / "ncut"
CASES = json.loads((NCUT / "cases.json").read_text())
CASES = CASES if isinstance(CASES, list) else CASES["cases"]


def first_occurrence(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered by first occurrence in a row-major scan (the fixtures' numbering)."""
    flat = labels.reshape(-1)
    _, first, inv = np.unique(flat, return_index=True, return_inverse=True)
    rank = np.empty(len(first), np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    return rank[inv.reshape(-1)].reshape(labels.shape)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_golden_partitions(case):
    feats = np.load(NCUT / f"{case['name']}.features.npy")
    clean = diffcut.recursive_ncut(feats, case["tau"], case["alpha"], mode="clean")
    want_clean = np.load(NCUT / f"{case['name']}.clean.labels.npy")
    assert clean.dtype == np.int32 and clean.shape == feats.shape[:2]
    np.testing.assert_array_equal(first_occurrence(clean), want_clean)
    if not case.get("quirk_labels_fragile"):
        official = diffcut.recursive_ncut(feats, case["tau"], case["alpha"])
        np.testing.assert_array_equal(first_occurrence(official), np.load(NCUT / f"{case['name']}.labels.npy"))


def test_same_labels_and_tree_as_the_cli(cli, tmp_path):
    name = "smooth_16x16x64_t0.2_a10"
    path = NCUT / f"{name}.features.npy"
    feats = np.load(path)
    out, tree_json = tmp_path / "l.npy", tmp_path / "t.json"
    cli("ncut", path, "--tau", 0.5, "--alpha", 10, "--tau-max", 1.0, "--out", out, "--tree", tree_json)
    labels = diffcut.recursive_ncut(feats, tau=0.5, alpha=10.0)
    np.testing.assert_array_equal(labels, np.load(out))

    tree = diffcut.SegmentTree(feats, tau_max=1.0, alpha=10.0)
    assert tree.to_json() == tree_json.read_text()
    assert tree.grid == (16, 16) and tree.tau_max == 1.0 and tree.mode == "official" and len(tree) > 1
    np.testing.assert_array_equal(tree.labels(0.5), labels)

    # A tree the CLI wrote, re-cut here and by `diffcut recut`.
    loaded = diffcut.SegmentTree.from_json(tree_json.read_text())
    for tau in (0.1, 0.3, 0.7, 1.0):
        recut = tmp_path / f"r{tau}.npy"
        cli("recut", tree_json, "--tau", tau, "--out", recut)
        np.testing.assert_array_equal(loaded.labels(tau), np.load(recut))
        assert loaded.segments(tau) == len(np.unique(np.load(recut)))
    # More segments as tau grows (up to where the official float32 assembly overflows: at tau 1
    # this tree's ~100 splits push its weights past 2^128, one label, as the official code).
    counts = [loaded.segments(t) for t in (0.1, 0.3, 0.5)]
    assert counts == sorted(counts) and counts[0] < counts[-1], counts


def test_token_list_with_grid_and_torch_like_inputs():
    feats = np.load(NCUT / "smooth_16x24x64_t0.5_a10.features.npy")
    h, w, c = feats.shape
    grid_labels = diffcut.recursive_ncut(feats, 0.5, 10.0)
    flat = diffcut.recursive_ncut(feats.reshape(h * w, c), 0.5, 10.0, grid=(h, w))
    assert flat.shape == (h * w,)
    np.testing.assert_array_equal(flat, grid_labels.reshape(-1))
    # float64 and non-contiguous input: converted, same partition.
    f64 = np.asfortranarray(feats.astype(np.float64))
    np.testing.assert_array_equal(diffcut.recursive_ncut(f64, 0.5, 10.0), grid_labels)


def test_the_gil_is_released():
    """While one thread cuts a 64×64 grid, Python code in another keeps running."""
    feats = np.random.default_rng(7).standard_normal((64, 64, 128), dtype=np.float32)
    call = {}

    def work():
        call["start"] = time.perf_counter()
        diffcut.recursive_ncut(feats, tau=0.3, alpha=1.0)
        call["end"] = time.perf_counter()

    t = threading.Thread(target=work)
    ticks = []
    t.start()
    while t.is_alive():
        ticks.append(time.perf_counter())
        time.sleep(0.001)  # gives the GIL up; it comes back only if the call does not hold it
    t.join()
    seconds = call["end"] - call["start"]
    inside = sum(call["start"] < x < call["end"] for x in ticks)
    assert seconds > 0.1, f"the call is too short to tell ({seconds:.3f} s)"
    # Held, the GIL would stop this loop for the whole call: no tick inside it.
    assert inside > 0.25 * seconds / 0.001, f"{inside} ticks during a {seconds:.2f} s call"


def test_two_threads_cut_concurrently():
    feats = [np.random.default_rng(s).standard_normal((24, 24, 128), dtype=np.float32) for s in (1, 2)]
    want = [diffcut.recursive_ncut(f, 1.0, 2.0) for f in feats]
    got = [None, None]

    def work(i):
        got[i] = diffcut.recursive_ncut(feats[i], 1.0, 2.0)

    threads = [threading.Thread(target=work, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda f: diffcut.recursive_ncut(f, tau=3.0), ValueError, "tau must be in (0, 2]"),
        (lambda f: diffcut.recursive_ncut(f, alpha=0.0), ValueError, "alpha"),
        (lambda f: diffcut.recursive_ncut(f, mode="exact"), ValueError, 'mode must be one of "official", "clean"'),
        (lambda f: diffcut.recursive_ncut(f, device="tpu"), ValueError, "device must be one of"),
        (lambda f: diffcut.recursive_ncut(f[0, 0]), ValueError, "got shape [4]"),
        (lambda f: diffcut.recursive_ncut(f.reshape(16, 4)), ValueError, "grid=(H, W)"),
        (lambda f: diffcut.recursive_ncut(f.reshape(16, 4), grid=(3, 5)), ValueError, "grid 3×5 holds 15 tokens"),
        (lambda f: diffcut.recursive_ncut(f.astype(str)), TypeError, "real numbers"),
        (lambda f: diffcut.recursive_ncut("features"), TypeError, "real numbers"),
        (lambda f: diffcut.recursive_ncut(np.zeros((0, 4, 4), np.float32)), ValueError, "zero dimension"),
        (lambda f: diffcut.recursive_ncut(np.zeros((200, 200, 1), np.float32)), ValueError, "the limit is 16384"),
        (lambda f: diffcut.SegmentTree(f, tau_max=0.5).labels(0.9), ValueError, "at most the tree's tau_max"),
        (lambda f: diffcut.SegmentTree.from_json('{"grid": [2, 2]}'), ValueError, "invalid segment tree"),
        (lambda f: diffcut.SegmentTree.from_json(b"\xff"), ValueError, "invalid segment tree"),
        (lambda f: diffcut.SegmentTree.from_json(3), TypeError, "str or bytes"),
    ],
)
def test_bad_input_names_the_problem(call, error, words):
    f = np.random.default_rng(0).standard_normal((4, 4, 4), dtype=np.float32)
    with pytest.raises(error) as e:
        call(f)
    assert words in str(e.value)


def test_non_finite_features_name_the_cell():
    f = np.ones((4, 4, 3), np.float32)
    f[2, 1, 0] = np.nan
    with pytest.raises(ValueError, match=r"value NaN at \[2, 1, 0\] is not finite"):
        diffcut.recursive_ncut(f)


def test_a_hostile_tree_is_refused_like_the_cli(cli, tmp_path):
    """A tree whose node is listed twice (the CLI's fuzz finding) is refused here too."""
    feats = np.load(NCUT / "smooth_8x8x16_t0.5_a10.features.npy")
    tree = json.loads(diffcut.SegmentTree(feats, tau_max=1.0).to_json())
    root = tree["nodes"][0]
    root["children"] = [root["children"][0], root["children"][0]]
    text = json.dumps(tree)
    path = tmp_path / "bad.json"
    path.write_text(text)
    p = cli("recut", path, "--tau", 0.5, "--out", tmp_path / "x.npy", check=False)
    assert p.returncode == 1
    with pytest.raises(ValueError) as e:
        diffcut.SegmentTree.from_json(text)
    message = str(e.value)
    assert message.startswith("invalid segment tree: ")
    # The CLI puts the file's name after the kind of error; the rest is the same.
    assert message.removeprefix("invalid segment tree: ") in p.stderr
