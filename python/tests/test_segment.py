"""segment, features and load_image: the same labels and features as the CLI on the same files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import diffcut
from conftest import FIXTURES, ROOT

BALL = FIXTURES / "scenes" / "ball.png"
MODEL = FIXTURES / "model" / "ssd-tiny"


def read_mask(path) -> np.ndarray:
    """The CLI's grey mask PNG, read independently of the package."""
    with Image.open(path) as im:
        assert im.mode in ("L", "I;16"), im.mode
        return np.array(im).astype(np.int32)


@pytest.mark.parametrize("refine", ["demo", "none"])
def test_segment_equals_the_cli(cli, tmp_path, refine):
    out = tmp_path / "mask.png"
    cli("segment", BALL, "--grid", 16, "--refine", refine, "--out", out)
    image = diffcut.load_image(BALL)
    with Image.open(BALL) as im:
        np.testing.assert_array_equal(image, np.array(im.convert("RGB")))
    labels = diffcut.segment(image, grid=16, refine=refine)
    assert labels.dtype == np.int32 and labels.shape == image.shape[:2]
    np.testing.assert_array_equal(labels, read_mask(out))
    # A path is read the same way.
    np.testing.assert_array_equal(diffcut.segment(BALL, grid=16, refine=refine), labels)


def test_segment_with_a_model_and_features_equal_the_cli(cli, tmp_path, needs_model):
    image, noise = MODEL / "image.png", MODEL / "noise.npy"
    out = tmp_path / "f.npy"
    cli("features", image, "--model", MODEL / "q8", "--size", 128, "--noise", noise, "--out", out)
    f = diffcut.features(image, MODEL / "q8", 128, noise=str(noise))
    assert f.dtype == np.float32 and f.shape == np.load(out).shape
    np.testing.assert_array_equal(f, np.load(out))
    # And diffusers' own features (the fixture's reference), within the CLI test's tolerance.
    want = np.load(MODEL / "expected" / "features_q8.npy")
    assert np.abs(f - want).max() < 2e-4 * np.abs(want).max()

    mask = tmp_path / "m.png"
    cli("segment", image, "--model", MODEL / "q8", "--size", 128, "--noise", noise, "--refine", "none",
        "--out", mask)
    labels = diffcut.segment(image, model=MODEL / "q8", size=128, noise=str(noise), refine="none")
    np.testing.assert_array_equal(labels, read_mask(mask))


def test_bad_images():
    with pytest.raises(TypeError, match="uint8"):
        diffcut.segment(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match=r"\[H, W, 3\]"):
        diffcut.segment(np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match="grid"):
        diffcut.segment(np.zeros((8, 8, 3), np.uint8), grid=0)
    with pytest.raises(ValueError, match='refine must be one of "demo", "eval", "open-vocab", "none"'):
        diffcut.segment(np.zeros((8, 8, 3), np.uint8), refine="best")
    with pytest.raises(OSError, match="no-such-photo.jpg"):
        diffcut.load_image(ROOT / "no-such-photo.jpg")
    with pytest.raises(ValueError, match="cannot decode image"):
        diffcut.load_image(ROOT / "README.md")
    # Not a model folder (it has no manifest.json), or, without the `model` feature, a build
    # that cannot load one.
    with pytest.raises((OSError, ValueError), match="manifest.json|`model` feature"):
        diffcut.features(np.zeros((8, 8, 3), np.uint8), ROOT / "samples")
