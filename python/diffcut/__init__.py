"""DiffCut: zero-shot semantic segmentation by recursive Normalized Cut, from Python.

Couairon et al., "DiffCut: Catalyzing Zero-Shot Semantic Segmentation with Diffusion Features and
Recursive Normalized Cut", NeurIPS 2024.

The same Rust library as the ``diffcut`` command line tool, with the same partitions and the same
error messages. Every function releases the GIL while it computes, so threads run concurrently.

>>> import numpy as np, diffcut
>>> feats = np.random.default_rng(0).standard_normal((8, 8, 16), dtype=np.float32)
>>> labels = diffcut.recursive_ncut(feats, tau=0.5, alpha=10.0)
>>> labels.shape, labels.dtype
((8, 8), dtype('int32'))

Functions
---------
recursive_ncut   features [H, W, C] -> labels [H, W] (``diffcut ncut``)
SegmentTree      the recursion grown once, re-cut at any tau (``--tree`` / ``diffcut recut``)
generate_masks   a drop-in for the official ``DiffCut.generate_masks``
segment          an image -> labels at its own size (``diffcut segment``)
features         diffusion features of an image from a converted model (``diffcut features``)
miou             DiffCut's Hungarian mIoU (``diffcut miou``)
EvalJob          one benchmark, scored image by image (``diffcut eval``; see ``diffcut.ray_eval``)
load_image       a photo file -> uint8 [H, W, 3], EXIF orientation applied as the CLI does

Errors: bad input raises ``ValueError`` (or ``TypeError`` for a wrong type), a file that cannot be
read ``OSError``, a failing GPU ``RuntimeError``; the message is the CLI's.
"""

from __future__ import annotations

import os
from typing import Any, Dict, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from . import _diffcut
from ._diffcut import FEATURES, __version__

__all__ = [
    "AutoSC",
    "DEFAULTS",
    "FEATURES",
    "DiffCut",
    "EvalJob",
    "SegmentTree",
    "features",
    "generate_masks",
    "load_image",
    "miou",
    "recursive_ncut",
    "segment",
    "autosc",
    "__version__",
]

PathLike = Union[str, "os.PathLike[str]"]

#: What this build includes: ``{"gpu": bool, "model": bool}`` (the package's Cargo features).
FEATURES: Dict[str, bool]

#: The default tau and alpha of each feature source (``"color"``, ``"diffusion"``), as the CLI
#: applies them when --tau / --alpha are not given.
DEFAULTS: Dict[str, Dict[str, float]] = _diffcut.defaults()

_PAPER_TAU = 0.5
_PAPER_ALPHA = 10.0


def _to_numpy(x: Any, name: str) -> np.ndarray:
    """An array-like (NumPy, a CPU torch tensor, nested lists) as a NumPy array."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor, on any device
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except Exception as e:  # noqa: BLE001 - anything numpy cannot take is a type error
        raise TypeError(f"{name} must be an array, got {type(x).__name__}: {e}") from None


def _float32(x: Any, name: str) -> np.ndarray:
    a = _to_numpy(x, name)
    if a.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold real numbers (float32 preferred), got dtype {a.dtype}")
    return np.ascontiguousarray(a, dtype=np.float32)


def _labels(x: Any, name: str, ndim: int = 2) -> np.ndarray:
    a = _to_numpy(x, name)
    if a.dtype.kind not in "iub":
        raise TypeError(f"{name} must hold integer labels, got dtype {a.dtype}")
    if a.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D label map, got shape {a.shape}")
    return np.ascontiguousarray(a, dtype=np.int64)


def _rgb(image: Any) -> np.ndarray:
    if isinstance(image, (str, os.PathLike)):
        return load_image(image)
    a = _to_numpy(image, "image")
    if a.dtype != np.uint8:
        raise TypeError(f"image must be uint8 [H, W, 3] (or a file path), got dtype {a.dtype}")
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"image must be uint8 [H, W, 3] (RGB), got shape {a.shape}")
    return np.ascontiguousarray(a)


def _grid(grid: Optional[Tuple[int, int]]) -> Optional[Tuple[int, int]]:
    if grid is None:
        return None
    h, w = grid
    return int(h), int(w)


def recursive_ncut(
    features: Any,
    tau: float = _PAPER_TAU,
    alpha: float = _PAPER_ALPHA,
    mode: str = "official",
    *,
    grid: Optional[Tuple[int, int]] = None,
    device: str = "cpu",
) -> np.ndarray:
    """Recursive 2-way Normalized Cut of a feature grid.

    The affinity is ``W = minmax(X̂ X̂ᵀ) ** alpha`` over the L2-normalised features; each region is
    cut along its Fiedler vector (the best of 100 thresholds) while the cut's NCut value is below
    ``tau``.

    Args:
        features: float32 ``[H, W, C]`` (token ``(y, x)`` at ``[y, x, :]``), or ``[N, C]`` with
            ``grid=(H, W)`` (tokens row-major). Other real dtypes are converted to float32.
        tau: NCut threshold in (0, 2]; higher gives more segments.
        alpha: affinity exponent > 0.
        mode: ``"official"`` reproduces the official code's partitions, quirks included;
            ``"clean"`` keeps every cell in the recursion, one label per leaf.
        grid: the token grid of ``[N, C]`` features.
        device: ``"cpu"`` or ``"gpu"`` (the WGSL kernels through wgpu: Vulkan, Metal, DX12).

    Returns:
        int32 labels ``0..K-1``, shape ``[H, W]`` (or ``[N]`` for ``[N, C]`` input), identical to
        ``diffcut ncut``'s.
    """
    return _diffcut.recursive_ncut(_float32(features, "features"), float(tau), float(alpha), mode, _grid(grid), device)


class AutoSC(NamedTuple):
    """What :func:`autosc` found."""

    labels: np.ndarray
    """int32 cluster indices ``0..k-1`` (a cluster may be empty), shape ``[H, W]`` (or ``[N]``)."""
    clusters: int
    """k, the index of the largest eigengap."""
    alpha: float
    """The α whose eigengap was largest."""
    eigengaps: Dict[float, np.ndarray]
    """Per α in (1, 5, 10, 15): the regularised eigengaps ``g_i`` of its normalised Laplacian."""


def autosc(features: Any, *, grid: Optional[Tuple[int, int]] = None) -> AutoSC:
    """AutoSC, the DiffCut paper's one-shot spectral clustering baseline (official
    ``diffcut/autosc.py``, same partitions).

    For α in 1, 5, 10, 15 the affinity ``minmax(X̂ X̂ᵀ) ** α`` gives a normalised Laplacian; the
    regularised eigengap ``(λ_i − m_i) / (m_i + 1e-6)`` (``m_i`` the running mean of the
    eigenvalues) is largest at ``i = k`` for one α, and ``cluster_qr`` reads k clusters off the
    eigenvectors. No τ, no α to set. Grids of at most 64×64 cells.

    Args:
        features: float32 ``[H, W, C]``, or ``[N, C]`` with ``grid=(H, W)``.

    Returns:
        :class:`AutoSC`; its labels equal ``diffcut ncut --method autosc``'s.
    """
    labels, k, alpha, spectra = _diffcut.autosc(_float32(features, "features"), _grid(grid))
    gaps = {float(a): np.asarray(g, dtype=np.float64) for a, g in spectra}
    return AutoSC(labels, int(k), float(alpha), gaps)


class SegmentTree:
    """The recursion grown once up to ``tau_max``; ``labels(tau)`` re-cuts it at any tau ≤ tau_max
    without solving anything again.

    >>> tree = diffcut.SegmentTree(feats, tau_max=1.0)           # doctest: +SKIP
    >>> [tree.segments(t) for t in (0.2, 0.5, 0.9)]              # doctest: +SKIP

    ``to_json()`` writes the same JSON as ``diffcut ncut --tree``; ``SegmentTree.from_json`` reads
    the CLI's trees (checked as trees: a hostile file raises ``ValueError``).
    """

    __slots__ = ("_tree",)

    def __init__(
        self,
        features: Any,
        tau_max: float = 1.0,
        alpha: float = _PAPER_ALPHA,
        mode: str = "official",
        *,
        grid: Optional[Tuple[int, int]] = None,
        device: str = "cpu",
    ) -> None:
        self._tree = _diffcut.SegmentTree(
            _float32(features, "features"), float(tau_max), float(alpha), mode, _grid(grid), device
        )

    @classmethod
    def from_json(cls, text: Union[str, bytes]) -> "SegmentTree":
        """A tree written by ``to_json`` or by the CLI (``--tree``)."""
        if isinstance(text, str):
            text = text.encode()
        if not isinstance(text, (bytes, bytearray)):
            raise TypeError(f"text must be str or bytes, got {type(text).__name__}")
        tree = cls.__new__(cls)
        tree._tree = _diffcut.SegmentTree.from_json(bytes(text))
        return tree

    def labels(self, tau: float) -> np.ndarray:
        """int32 labels ``[H, W]`` at ``tau`` (≤ ``tau_max``), numbered as the CLI numbers them."""
        return self._tree.labels(float(tau))

    def segments(self, tau: float) -> int:
        """The number of segments at ``tau``."""
        return self._tree.segments(float(tau))

    def to_json(self) -> str:
        """The tree as ``diffcut ncut --tree`` writes it."""
        return self._tree.to_json()

    @property
    def grid(self) -> Tuple[int, int]:
        """The token grid ``(H, W)``."""
        return self._tree.grid

    @property
    def tau_max(self) -> float:
        return self._tree.tau_max

    @property
    def alpha(self) -> float:
        return self._tree.alpha

    @property
    def mode(self) -> str:
        return self._tree.mode

    def __len__(self) -> int:
        """The number of nodes."""
        return len(self._tree)

    def __repr__(self) -> str:
        return repr(self._tree)


def generate_masks(
    features: Any,
    tau: float = 0.5,
    mask_size: Tuple[int, int] = (128, 128),
    masks: Any = None,
    alpha: float = 10,
    img_size: int = 1024,
) -> np.ndarray:
    """A drop-in for the official ``DiffCut.generate_masks`` (same arguments, same output).

    ``features`` are the official ones (``[1, (img_size/32)², C]`` or any shape holding
    ``(img_size/32)² · C`` values; a torch tensor on any device is accepted). The official recursive
    NCut (or the given ``masks`` on the grid), then the high-resolution concept assignment:
    each of the ``mask_size`` pixels takes the segment whose mean normalised feature best matches
    the bilinearly up-sampled features.

    Returns:
        int64 ``[1, 1, H, W]`` labels, as the official function returns them.
    """
    f = _float32(features, "features")
    m = None
    if masks is not None:
        m = _to_numpy(masks, "masks")
        s = int(img_size) // 32
        if m.size != s * s:
            raise ValueError(f"masks must label the {s}×{s} grid, got shape {m.shape}")
        if m.dtype.kind not in "iufb":
            raise TypeError(f"masks must hold numbers, got dtype {m.dtype}")
        if m.dtype.kind == "f" and not np.all(np.isfinite(m)):
            raise ValueError("masks hold a value that is not finite")
        # The official code takes torch.unique of the mask values: any numbers, sorted.
        _, m = np.unique(m.reshape(s, s), return_inverse=True)
        m = np.ascontiguousarray(m.reshape(s, s), dtype=np.int64)
    h, w = mask_size
    return _diffcut.generate_masks(f, float(tau), (int(h), int(w)), float(alpha), int(img_size), m)


class DiffCut:
    """The official ``DiffCut`` class's entry points, for code written against it: replace
    ``from diffcut.recursive_normalized_cut import DiffCut`` (the official repository) with
    ``from diffcut import DiffCut`` and keep the calls."""

    def generate_masks(
        self,
        features: Any,
        tau: float = 0.5,
        mask_size: Tuple[int, int] = (128, 128),
        masks: Any = None,
        alpha: float = 10,
        img_size: int = 1024,
    ) -> np.ndarray:
        """See :func:`diffcut.generate_masks`."""
        return generate_masks(features, tau, mask_size, masks, alpha, img_size)


def load_image(path: PathLike) -> np.ndarray:
    """A PNG, JPEG, GIF, BMP, TIFF or WebP file as uint8 ``[H, W, 3]``, EXIF orientation applied."""
    return _diffcut.load_rgb(os.fspath(path))


def segment(
    image: Any,
    tau: Optional[float] = None,
    alpha: Optional[float] = None,
    *,
    grid: int = 32,
    refine: str = "demo",
    mode: str = "official",
    device: str = "cpu",
    model: Optional[PathLike] = None,
    size: int = 1024,
    noise: str = "seed42",
    model_device: str = "cpu",
) -> np.ndarray:
    """Segments an image end to end, as ``diffcut segment`` does.

    Args:
        image: uint8 ``[H, W, 3]`` RGB, or a file path (read with :func:`load_image`).
        tau, alpha: default: the feature source's own (``DEFAULTS``).
        grid: cells per side of the weight-free colour features (without ``model``).
        refine: ``"demo"`` (PAMR, DiffCut's demo preset), ``"eval"`` (its evaluation preset),
            ``"open-vocab"`` (the open-vocabulary evaluation's preset) or ``"none"`` (the concept
            assignment alone).
        mode, device: as :func:`recursive_ncut`.
        model: a folder made by ``models/convert.py``: diffusion features instead of colour ones.
        size, noise, model_device: with ``model``: input size S, the latent noise (``"seed42"``,
            ``"zero"`` or a .npy path) and where the model runs.

    Returns:
        int32 labels ``[H, W]`` at the image's own size.
    """
    return _diffcut.segment(
        _rgb(image),
        None if tau is None else float(tau),
        None if alpha is None else float(alpha),
        int(grid),
        refine,
        mode,
        device,
        None if model is None else os.fspath(model),
        int(size),
        noise,
        model_device,
    )


def features(
    image: Any,
    model_dir: PathLike,
    size: int = 1024,
    *,
    noise: str = "seed42",
    model_device: str = "cpu",
) -> np.ndarray:
    """Diffusion features of an image (``diffcut features``): float32 ``[S/32, S/32, C]``.

    The image is squashed to ``size × size``; the VAE encoder, DDIM noise at t = 50 and the UNet's
    down path to DiffCut's hook, from a folder made by ``models/convert.py``.
    """
    return _diffcut.features(_rgb(image), os.fspath(model_dir), int(size), noise, model_device)


def miou(
    gt: Union[Any, Sequence[Any]],
    pred: Union[Any, Sequence[Any]],
    classes: int,
    ignore: Optional[int] = None,
    background_merge: bool = False,
) -> Dict[str, Any]:
    """DiffCut's mIoU: per-image Hungarian matching of segments to classes, counts summed over the
    images, IoU averaged over the classes that occur (``diffcut miou``).

    Args:
        gt, pred: one 2-D label map each, or sequences of them (same shapes pairwise). Ground
            truth holds classes ``0..classes-1`` or ``ignore``; predictions any ids per image.
        background_merge: merge unmatched segments into the background (the last class) first,
            as the evaluation does for VOC, Context and COCO-Object.

    Returns:
        ``{"miou", "pixel_accuracy", "per_class_iou", "images", ...}`` with the counts.
    """
    gts = [gt] if _is_map(gt) else list(gt)
    preds = [pred] if _is_map(pred) else list(pred)
    return _diffcut.miou(
        [_labels(g, "gt") for g in gts],
        [_labels(p, "pred") for p in preds],
        int(classes),
        None if ignore is None else int(ignore),
        bool(background_merge),
    )


def _is_map(x: Any) -> bool:
    return hasattr(x, "ndim") and getattr(x, "ndim") == 2


class EvalJob:
    """One benchmark through DiffCut's protocol (``diffcut eval``), opened once and scored image
    by image, so that the images can be shared among workers (``diffcut.ray_eval``).

    ``score(indices)`` returns the counts of those images; ``report(parts)`` merges any number of
    them into the run's report. The counts are integers: any split gives ``diffcut eval``'s
    numbers. With ``cache``, predictions (and diffusion features) are kept per image and a rerun
    reads them back, exactly as ``diffcut eval --cache``.
    """

    __slots__ = ("_job", "config")

    def __init__(
        self,
        dataset: str,
        root: PathLike,
        *,
        model: Optional[PathLike] = None,
        size: int = 1024,
        noise: str = "seed42",
        model_device: str = "cpu",
        device: str = "cpu",
        limit: Optional[int] = None,
        cache: Optional[PathLike] = None,
        tau: Optional[float] = None,
        alpha: Optional[float] = None,
        grid: int = 32,
        refine: str = "eval",
        class_map: Optional[PathLike] = None,
        image_list: Optional[PathLike] = None,
    ) -> None:
        fs = lambda p: None if p is None else os.fspath(p)  # noqa: E731
        #: The arguments, so that a worker can open the same job.
        self.config = dict(
            dataset=dataset, root=fs(root), model=fs(model), size=int(size), noise=noise,
            model_device=model_device, device=device, limit=limit, cache=fs(cache),
            tau=tau, alpha=alpha, grid=int(grid), refine=refine, class_map=fs(class_map),
            image_list=fs(image_list),
        )
        c = self.config
        self._job = _diffcut.EvalJob(
            c["dataset"], c["root"], c["model"], c["size"], c["noise"], c["model_device"], c["device"],
            None if limit is None else int(limit), c["cache"],
            None if tau is None else float(tau), None if alpha is None else float(alpha),
            c["grid"], c["refine"], c["class_map"], c["image_list"],
        )

    def __len__(self) -> int:
        return len(self._job)

    def names(self) -> list:
        """The images' names, in scoring order."""
        return self._job.names()

    def score(self, indices: Sequence[int]) -> Dict[str, Any]:
        """Predicts (or reads from the cache) and matches the images at ``indices``."""
        return self._job.score([int(i) for i in indices])

    def report(self, parts: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
        """Merges ``score`` results into the report ``diffcut eval --json`` writes, plus its
        Markdown ``summary``."""
        return self._job.report(list(parts))

    @property
    def cache_dir(self) -> Optional[str]:
        """The folder of this run's cached predictions, if any."""
        return self._job.cache_dir
