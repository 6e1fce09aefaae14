"""A DiffCut benchmark on a Ray cluster: ``diffcut eval``'s protocol, its images mapped over workers.

    python -m diffcut.ray_eval --dataset voc --root DATA --model ssd-1b-q8 --out voc.json

Each worker (a Ray Data actor) opens the benchmark once (:class:`diffcut.EvalJob`: the dataset,
the model, the cache), then predicts and matches the images it is given and returns their
integer counts (true positives, false positives, false negatives per class). The driver merges the
counts: the mIoU is the one ``diffcut eval`` prints for the same data and settings, whatever the
split, the order or the number of workers.

Predictions (and diffusion features) are cached per image in ``--cache`` (default: the output's
name with ``.cache``), the layout ``diffcut eval --cache`` uses: a rerun after a crash, a preempted
node or a new τ on the same features reuses what is there, and the two tools share a cache.

Where it runs: without ``--address`` Ray starts a local instance on this machine; with
``--address auto`` (on a cluster node, or with ``RAY_ADDRESS`` set) or ``--address ray://HEAD:10001``
it joins an existing cluster. Every worker must see ``--root``, ``--model`` and ``--cache`` at the
same paths (a shared file system), and have this package installed (``pip install ./python``, or
``--runtime-env '{"pip": ["diffcut"]}'`` where a wheel index is reachable). ``--gpus-per-worker 1``
puts each worker on a GPU and runs the model and the NCut there (``--device gpu``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Dict, List, Optional

import numpy as np


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m diffcut.ray_eval",
        description="DiffCut's evaluation protocol (diffcut eval) with the images mapped over a Ray cluster.",
    )
    p.add_argument("--dataset", required=True,
                   help="voc, context, coco-object, coco-stuff, cityscapes or ade20k")
    p.add_argument("--root", required=True, help="the dataset folder, as for diffcut eval")
    p.add_argument("--model", help="a folder made by models/convert.py (default: the weight-free colour features)")
    p.add_argument("--out", required=True, help="where to write the report (JSON, as diffcut eval --json)")
    p.add_argument("--cache", help="per-image predictions and features (default: OUT's name + .cache)")
    p.add_argument("--address", help="a Ray cluster to join (auto, ray://HOST:PORT); default: a local instance")
    p.add_argument("--workers", type=int, default=1, help="worker actors (default 1)")
    p.add_argument("--cpus-per-worker", type=float, default=1.0,
                   help="CPUs each worker reserves; its Rust threads are limited to this (default 1)")
    p.add_argument("--gpus-per-worker", type=float, default=0.0, help="GPUs each worker reserves (default 0)")
    p.add_argument("--batch-size", type=int, default=4, help="images per task (default 4)")
    p.add_argument("--runtime-env", help="a Ray runtime_env as JSON, for the workers")
    p.add_argument("--limit", type=int, help="only the first N images")
    p.add_argument("--tau", type=float, help="default: the feature source's own")
    p.add_argument("--alpha", type=float, help="default: the feature source's own")
    p.add_argument("--grid", type=int, default=32, help="grid of the colour features (default 32)")
    p.add_argument("--refine", default="eval", choices=["eval", "demo", "none"], help="default eval (the protocol's)")
    p.add_argument("--size", type=int, default=1024, help="model input size S (default 1024)")
    p.add_argument("--noise", default="seed42", help="seed42, zero, or a .npy (default seed42)")
    p.add_argument("--device", default="cpu", choices=["cpu", "gpu"], help="where the NCut and PAMR run")
    p.add_argument("--model-device", default="cpu", choices=["cpu", "gpu"], help="where the model runs")
    p.add_argument("--class-map", help="as diffcut eval --class-map")
    p.add_argument("--image-list", help="as diffcut eval --image-list")
    return p


def job_config(args: argparse.Namespace) -> Dict[str, Any]:
    """The keyword arguments of :class:`diffcut.EvalJob` for these command-line arguments."""
    cache = args.cache or os.path.splitext(args.out)[0] + ".cache"
    return dict(
        dataset=args.dataset, root=args.root, model=args.model, size=args.size, noise=args.noise,
        model_device=args.model_device, device=args.device, limit=args.limit, cache=cache,
        tau=args.tau, alpha=args.alpha, grid=args.grid, refine=args.refine,
        class_map=args.class_map, image_list=args.image_list,
    )


class _Scorer:
    """A Ray Data actor: one :class:`diffcut.EvalJob` per worker, reused for every batch."""

    def __init__(self, config: Dict[str, Any]) -> None:
        import diffcut

        self.job = diffcut.EvalJob(**config)

    def __call__(self, batch: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        counts = self.job.score([int(i) for i in batch["id"]])
        return {"counts": np.array([json.dumps(counts)])}


def run(args: argparse.Namespace) -> Dict[str, Any]:
    """Runs the benchmark on Ray; returns the report (as written to ``--out``)."""
    import ray

    import diffcut

    if args.workers < 1 or args.batch_size < 1:
        raise ValueError("--workers and --batch-size must be at least 1")
    config = job_config(args)
    # The driver opens the job too: it checks every argument before any worker starts, counts the
    # images, and reduces with the protocol.
    job = diffcut.EvalJob(**config)
    n = len(job)
    runtime_env: Dict[str, Any] = json.loads(args.runtime_env) if args.runtime_env else {}
    # Each worker's Rust threads (rayon) stay within the CPUs it reserved.
    threads = str(max(1, int(args.cpus_per_worker)))
    runtime_env.setdefault("env_vars", {}).setdefault("RAYON_NUM_THREADS", threads)
    if not ray.is_initialized():
        ray.init(address=args.address, runtime_env=runtime_env, log_to_driver=False,
                 include_dashboard=False, configure_logging=False)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.verbose_stats_logs = False

    t0 = time.perf_counter()
    parts: List[Dict[str, Any]] = []
    if n:
        # The indices as in-memory items (ray.data.range would need read tasks, and with every CPU
        # reserved by the actors they could never run).
        rows = (
            ray.data.from_items([{"id": i} for i in range(n)])
            .map_batches(
                _Scorer,
                fn_constructor_kwargs={"config": config},
                batch_size=args.batch_size,
                concurrency=args.workers,
                num_cpus=args.cpus_per_worker,
                num_gpus=args.gpus_per_worker,
            )
            .take_all()
        )
        parts = [json.loads(r["counts"]) for r in rows]
    seconds = time.perf_counter() - t0
    report = job.report(parts)
    if report["images"] != n:
        raise RuntimeError(f"the workers scored {report['images']} of {n} images")
    report["workers"] = args.workers
    report["seconds"] = seconds
    report["images_per_second"] = n / seconds if seconds > 0 else None
    return report


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    try:
        report = run(args)
    except (ValueError, OSError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    summary = report.pop("summary")
    # All or nothing, as diffcut eval writes: a temporary file beside the output, then a rename.
    tmp = f"{args.out}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(report, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, args.out)
    print(summary)
    print(f"{report['images']} images on {args.workers} worker(s) in {report['seconds']:.1f} s "
          f"({report['images_per_second'] or 0:.2f} images/s) → {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
