"""python -m diffcut.ray_eval on a local Ray instance: the same mIoU as `diffcut eval` on a tiny
synthetic VOC set, with 1 and 2 workers, resuming from its cache (shared with the CLI's)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from diffcut import ray_eval

NAMES = [f"2007_{i:06d}" for i in range(1, 7)]


def make_voc(root):
    """Six 48×40 photos (a red block on a blue-green ground, textured) and VOC label PNGs."""
    base = root / "VOCdevkit" / "VOC2012"
    for d in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (base / d).mkdir(parents=True)
    rng = np.random.default_rng(3)
    for i, name in enumerate(NAMES):
        h, w = 40, 48
        y, x = np.mgrid[0:h, 0:w]
        inside = (x < 18 + 3 * i) & (y > 6 + i)
        img = np.where(inside[..., None], [200, 30, 20], [20, 90, 160]).astype(np.int64)
        img = np.clip(img + rng.integers(0, 12, img.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(base / "JPEGImages" / f"{name}.jpg", quality=95)
        gt = np.where(inside, 1 + i % 3, 0).astype(np.uint8)
        gt[:, 0] = 255
        Image.fromarray(gt, mode="L").save(base / "SegmentationClass" / f"{name}.png")
    (base / "ImageSets" / "Segmentation" / "val.txt").write_text("\n".join(NAMES) + "\n")


@pytest.fixture(scope="module")
def voc(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    make_voc(root)
    return root


@pytest.fixture(scope="module", autouse=True)
def ray_local():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"RAYON_NUM_THREADS": "1"}})
    yield
    ray.shutdown()


KEYS = ("miou", "pixel_accuracy", "per_class_iou", "images", "true_positives", "false_positives",
        "false_negatives")


def test_same_miou_as_the_cli_with_one_and_two_workers_and_a_resume(cli, voc, tmp_path):
    want_json = tmp_path / "cli.json"
    cli("eval", "--dataset", "voc", "--root", voc, "--grid", 8, "--json", want_json,
        "--cache", tmp_path / "cli-cache")
    want = json.loads(want_json.read_text())
    assert want["images"] == len(NAMES)

    for workers in (1, 2):
        out = tmp_path / f"ray{workers}.json"
        args = ["--dataset", "voc", "--root", str(voc), "--grid", "8", "--out", str(out),
                "--workers", str(workers), "--batch-size", "2"]
        assert ray_eval.main(args) == 0
        got = json.loads(out.read_text())
        for k in KEYS:
            if k in want:
                assert got[k] == want[k], k
        assert got["miou"] == want["miou"] and got["per_class_iou"] == want["per_class_iou"]
        assert (got["computed"], got["cached"]) == (len(NAMES), 0)
        assert got["workers"] == workers and got["images_per_second"] > 0

        # Rerun: every prediction comes back from the cache, same numbers.
        assert ray_eval.main(args) == 0
        again = json.loads(out.read_text())
        assert (again["computed"], again["cached"]) == (0, len(NAMES))
        assert again["miou"] == want["miou"]

    # The CLI's cache serves the Ray script (same layout and names).
    out = tmp_path / "shared.json"
    assert ray_eval.main(["--dataset", "voc", "--root", str(voc), "--grid", "8", "--out", str(out),
                          "--cache", str(tmp_path / "cli-cache")]) == 0
    shared = json.loads(out.read_text())
    assert (shared["computed"], shared["cached"]) == (0, len(NAMES)) and shared["miou"] == want["miou"]


def test_bad_arguments_are_named_before_any_worker_starts(voc, tmp_path, capsys):
    out = tmp_path / "x.json"
    assert ray_eval.main(["--dataset", "pascal", "--root", str(voc), "--out", str(out)]) == 1
    assert "dataset must be one of \"voc\"" in capsys.readouterr().err
    assert ray_eval.main(["--dataset", "voc", "--root", str(tmp_path / "none"), "--out", str(out)]) == 1
    assert "none" in capsys.readouterr().err
    assert ray_eval.main(["--dataset", "voc", "--root", str(voc), "--tau", "5", "--out", str(out)]) == 1
    assert "tau must be in (0, 2]" in capsys.readouterr().err
    assert not out.exists()
