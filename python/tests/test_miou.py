"""miou: the CLI's numbers on its golden fixture, and bad input named."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import diffcut
from conftest import FIXTURES

MIOU = FIXTURES / "miou"


def grey(path) -> np.ndarray:
    """A label PNG (8- or 16-bit grey), read independently of the package."""
    with Image.open(path) as im:
        return np.array(im).astype(np.int64)


def test_equals_the_cli_on_the_golden_fixture(cli, tmp_path):
    names = sorted(p.name for p in (MIOU / "gt").glob("*.png"))
    gt = [grey(MIOU / "gt" / n) for n in names]
    pred = [grey(MIOU / "pred" / n) for n in names]
    for merge, extra in ((False, []), (True, ["--background-merge"])):
        out = tmp_path / f"m{merge}.json"
        classes = len(json.loads((MIOU / "expected.json").read_text())["per_class_iou"])
        cli("miou", "--gt", MIOU / "gt", "--pred", MIOU / "pred", "--classes", classes, "--ignore", 255,
            *extra, "--json", out)
        want = json.loads(out.read_text())
        got = diffcut.miou(gt, pred, classes, ignore=255, background_merge=merge)
        for k in ("miou", "pixel_accuracy", "per_class_iou", "images"):
            assert got[k] == want[k], k


def test_a_perfect_permuted_prediction_scores_one():
    gt = np.array([[0, 0, 1], [2, 2, 1]])
    got = diffcut.miou(gt, (gt + 1) % 3 + 7, classes=3)
    assert got["miou"] == 1.0 and got["images"] == 1


def test_bad_input():
    gt = np.zeros((2, 2), np.int64)
    with pytest.raises(ValueError, match="neither a class"):
        diffcut.miou(gt + 5, gt, classes=3)
    with pytest.raises(ValueError, match="ground truth is"):
        diffcut.miou(gt, np.zeros((2, 3), np.int64), classes=3)
    with pytest.raises(ValueError, match="0..=65535"):
        diffcut.miou(gt, gt - 1, classes=3)
    with pytest.raises(TypeError, match="integer labels"):
        diffcut.miou(gt, gt.astype(float), classes=3)
    with pytest.raises(ValueError, match="2 ground-truth maps but 1"):
        diffcut.miou([gt, gt], [gt], classes=3)
