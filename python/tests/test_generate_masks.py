"""generate_masks against the official DiffCut.generate_masks itself: outputs made by its code
(reference/make_generate_masks_fixtures.py), compared exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest

import diffcut
from conftest import FIXTURES

HERE = FIXTURES.parent.parent / "python" / "tests" / "fixtures"
META = json.loads((HERE / "generate_masks.json").read_text())
OFFICIAL = np.load(HERE / "generate_masks.npz")


@pytest.mark.parametrize("case", META["cases"], ids=[c["name"] for c in META["cases"]])
def test_equals_the_official_output(case):
    feats = np.load(FIXTURES / "ncut" / f"{case['features']}.features.npy")
    s, _, c = feats.shape
    # As the official pipeline passes them: [1, s², C].
    x = feats.reshape(1, s * s, c)
    masks = OFFICIAL[case["name"] + ".masks_in"] if "masks_from" in case else None
    got = diffcut.generate_masks(x, tau=case["tau"], mask_size=tuple(case["mask_size"]), masks=masks,
                                 alpha=case["alpha"], img_size=case["img_size"])
    want = OFFICIAL[case["name"]].astype(np.int64)
    assert got.dtype == np.int64 and got.shape == (1, 1, *case["mask_size"])
    np.testing.assert_array_equal(got, want)
    # The class-style entry point, positional as the official method.
    again = diffcut.DiffCut().generate_masks(x, case["tau"], tuple(case["mask_size"]), masks,
                                             case["alpha"], case["img_size"])
    np.testing.assert_array_equal(again, want)


def test_bad_arguments():
    f = np.zeros((1, 64, 8), np.float32)  # img_size 256: an 8×8 grid
    with pytest.raises(ValueError, match="not a whole number of channels"):
        diffcut.generate_masks(f[:, :63], img_size=256)
    with pytest.raises(ValueError, match="img_size must be at least 32"):
        diffcut.generate_masks(f, img_size=16)
    with pytest.raises(ValueError, match="masks must label the 8×8 grid"):
        diffcut.generate_masks(f, img_size=256, masks=np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match="not finite"):
        diffcut.generate_masks(f, img_size=256, masks=np.full((8, 8), np.nan))
