//! `diffcut._diffcut`: the Python package's native module.
//!
//! It converts types and presents: numpy arrays in and out, strings to the crate's enums, the
//! crate's [`Error`] to a Python exception (once, in [`py_err`]). Everything else is the crate's,
//! through its front door ([`diffcut::segmenter`]). Long work runs with the GIL released
//! ([`Python::detach`]), so Python threads segment concurrently.
//!
//! The Python-facing documentation (signatures, defaults, shapes) is in `diffcut/__init__.py` and
//! `diffcut/_diffcut.pyi`; the Python wrappers check and convert array types before calling here.

use std::path::PathBuf;

use diffcut::choice::Choice;
use diffcut::eval::datasets::DatasetOptions;
use diffcut::eval::miou::MiouReport;
use diffcut::eval::runner::{EvalConfig, EvalJob, Scored};
use diffcut::eval::{Accumulator, Protocol};
use diffcut::image_io::{load_image, RgbImage};
use diffcut::labels::LabelMap;
use diffcut::segmenter::{
    Compute, Device, FeatureGrid, FeatureSource, Mode, NoiseChoice, Numbering, Refine, SegmentParams, SegmentTree,
    Segmentation, Segmenter,
};
use diffcut::{Error, Result};
use numpy::{IntoPyArray, PyArray2, PyArray3, PyArray4, PyArrayDyn, PyReadonlyArray2, PyReadonlyArray3};
use numpy::{PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

/// The crate's error as a Python exception, with the CLI's message: bad input is a `ValueError`,
/// a file that cannot be read or written an `OSError`, a GPU that fails a `RuntimeError`.
fn py_err(e: Error) -> PyErr {
    let message = e.to_string();
    match e {
        Error::Io { .. } => PyOSError::new_err(message),
        Error::Gpu(_) => PyRuntimeError::new_err(message),
        _ => PyValueError::new_err(message),
    }
}

/// A Python string as one of the crate's enums, by the CLI's names.
fn choice<T: Choice>(value: &str) -> PyResult<T> {
    T::parse(value).map_err(py_err)
}

/// Why a model argument cannot be used by this build.
#[cfg(not(feature = "model"))]
fn no_model() -> PyErr {
    PyValueError::new_err(
        "this diffcut package was built without the `model` feature (diffusion features); \
         reinstall with it: MATURIN_PEP517_ARGS='--features model' pip install ./python",
    )
}

/// `[H, W, C]` features, or `[N, C]` with `grid = (H, W)`, as a [`FeatureGrid`]. The returned
/// shape is the labels' (`[H, W]` or `[N]`).
fn feature_grid(
    features: &PyReadonlyArrayDyn<'_, f32>,
    grid: Option<(usize, usize)>,
) -> PyResult<(FeatureGrid, Vec<usize>)> {
    let shape = features.shape().to_vec();
    let data: Vec<f32> = features.as_array().iter().copied().collect();
    let (h, w, c, out) = match (shape.as_slice(), grid) {
        (&[h, w, c], None) => (h, w, c, vec![h, w]),
        (&[n, c], Some((h, w))) => {
            if h.checked_mul(w) != Some(n) {
                return Err(PyValueError::new_err(format!(
                    "grid {h}×{w} holds {} tokens but the features have {n}",
                    h as u128 * w as u128
                )));
            }
            (h, w, c, vec![n])
        }
        (&[_, _], None) => {
            return Err(PyValueError::new_err(
                "features of shape [N, C] need grid=(H, W), the token grid they were taken on",
            ))
        }
        (&[_, _, _], Some(_)) => {
            return Err(PyValueError::new_err(
                "features of shape [H, W, C] carry their grid; grid= is only for [N, C]",
            ))
        }
        (s, _) => {
            return Err(PyValueError::new_err(format!(
                "features must be float32 [H, W, C] (or [N, C] with grid=), got shape {s:?}"
            )))
        }
    };
    Ok((FeatureGrid::new(h, w, c, data).map_err(py_err)?, out))
}

/// Labels `[h·w]` as an int32 array of `shape`.
fn labels_array<'py>(py: Python<'py>, labels: &[u32], shape: &[usize]) -> PyResult<Bound<'py, PyArrayDyn<i32>>> {
    let v: Vec<i32> = labels.iter().map(|&l| l as i32).collect();
    v.into_pyarray(py).reshape(shape.to_vec())
}

fn compute(device: Device) -> Result<Compute> {
    pollster::block_on(Compute::open(device.into()))
}

/// Features from Python grown into a tree up to `max(tau, tau_max)` on `device`, with the GIL
/// released; also the labels' shape (`[H, W]`, or `[N]` for token lists).
#[allow(clippy::too_many_arguments)]
fn grow(
    py: Python<'_>,
    features: &PyReadonlyArrayDyn<'_, f32>,
    grid: Option<(usize, usize)>,
    tau: f64,
    tau_max: Option<f64>,
    alpha: f32,
    mode: &str,
    device: &str,
) -> PyResult<(Segmentation, Vec<usize>)> {
    let (f, shape) = feature_grid(features, grid)?;
    let params = SegmentParams {
        tau,
        alpha,
        tau_max,
        mode: choice(mode)?,
    };
    let device: Device = choice(device)?;
    let seg = py
        .detach(|| pollster::block_on(compute(device)?.grow(f, &params)))
        .map_err(py_err)?;
    Ok((seg, shape))
}

/// Recursive NCut of a feature grid → int32 labels (the CLI's `diffcut ncut`).
#[pyfunction]
#[pyo3(signature = (features, tau, alpha, mode, grid, device))]
fn recursive_ncut<'py>(
    py: Python<'py>,
    features: PyReadonlyArrayDyn<'py, f32>,
    tau: f64,
    alpha: f32,
    mode: &str,
    grid: Option<(usize, usize)>,
    device: &str,
) -> PyResult<Bound<'py, PyArrayDyn<i32>>> {
    let (seg, shape) = grow(py, &features, grid, tau, None, alpha, mode, device)?;
    let labels = seg.cell_labels(tau, Numbering::Mode).map_err(py_err)?;
    labels_array(py, labels.labels(), &shape)
}

/// AutoSC of a feature grid → (int32 labels, k, the α that chose k, per-α eigengaps): the
/// CLI's `diffcut ncut --method autosc`.
#[pyfunction]
#[pyo3(signature = (features, grid))]
#[allow(clippy::type_complexity)]
fn autosc<'py>(
    py: Python<'py>,
    features: PyReadonlyArrayDyn<'py, f32>,
    grid: Option<(usize, usize)>,
) -> PyResult<(Bound<'py, PyArrayDyn<i32>>, usize, f32, Vec<(f32, Vec<f64>)>)> {
    let (f, shape) = feature_grid(&features, grid)?;
    let a = py.detach(|| diffcut::ncut::autosc::autosc(&f)).map_err(py_err)?;
    let spectra = a.spectra.into_iter().map(|s| (s.alpha, s.gaps)).collect();
    Ok((labels_array(py, &a.labels, &shape)?, a.clusters, a.alpha, spectra))
}

/// A segment tree grown once and re-cut at any τ up to its `tau_max`.
#[pyclass(name = "SegmentTree", module = "diffcut", frozen)]
struct PySegmentTree {
    tree: SegmentTree,
}

#[pymethods]
impl PySegmentTree {
    #[new]
    #[pyo3(signature = (features, tau_max, alpha, mode, grid, device))]
    fn new(
        py: Python<'_>,
        features: PyReadonlyArrayDyn<'_, f32>,
        tau_max: f64,
        alpha: f32,
        mode: &str,
        grid: Option<(usize, usize)>,
        device: &str,
    ) -> PyResult<Self> {
        let (seg, _) = grow(py, &features, grid, tau_max, Some(tau_max), alpha, mode, device)?;
        Ok(Self { tree: seg.tree })
    }

    /// Labels on the grid at τ ≤ tau_max, int32 `[H, W]`, numbered as the CLI numbers them.
    fn labels<'py>(&self, py: Python<'py>, tau: f64) -> PyResult<Bound<'py, PyArrayDyn<i32>>> {
        let (labels, _) = self.tree.labels_at(tau).map_err(py_err)?;
        labels_array(py, &labels, &self.tree.grid)
    }

    /// Number of segments at τ.
    fn segments(&self, tau: f64) -> PyResult<usize> {
        Ok(self.tree.labels_at(tau).map_err(py_err)?.1)
    }

    /// The tree as the CLI writes it (`diffcut ncut --tree`).
    fn to_json(&self) -> PyResult<String> {
        let bytes = self.tree.to_json().map_err(py_err)?;
        String::from_utf8(bytes).map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// A tree written by the CLI or by `to_json`, checked as a tree.
    #[staticmethod]
    fn from_json(text: &[u8]) -> PyResult<Self> {
        Ok(Self {
            tree: SegmentTree::from_json(text).map_err(py_err)?,
        })
    }

    #[getter]
    fn grid(&self) -> (usize, usize) {
        (self.tree.grid[0], self.tree.grid[1])
    }

    #[getter]
    fn tau_max(&self) -> f64 {
        self.tree.tau_max
    }

    #[getter]
    fn alpha(&self) -> f32 {
        self.tree.alpha
    }

    #[getter]
    fn mode(&self) -> String {
        mode_name(self.tree.mode)
    }

    fn __len__(&self) -> usize {
        self.tree.nodes.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "SegmentTree(grid=({}, {}), nodes={}, tau_max={}, alpha={}, mode={:?})",
            self.tree.grid[0],
            self.tree.grid[1],
            self.tree.nodes.len(),
            self.tree.tau_max,
            self.tree.alpha,
            mode_name(self.tree.mode)
        )
    }
}

fn mode_name(mode: Mode) -> String {
    mode.name().to_string()
}

/// The official `DiffCut.generate_masks`: `features` `[s², C]` or `[s, s, C]` with
/// `s = img_size / 32`, the official recursive NCut (or the given `masks` on the grid), then the
/// high-resolution concept assignment at `mask_size` → int64 `[1, 1, H, W]`.
#[pyfunction]
#[pyo3(signature = (features, tau, mask_size, alpha, img_size, masks))]
fn generate_masks<'py>(
    py: Python<'py>,
    features: PyReadonlyArrayDyn<'py, f32>,
    tau: f64,
    mask_size: (usize, usize),
    alpha: f32,
    img_size: usize,
    masks: Option<PyReadonlyArray2<'py, i64>>,
) -> PyResult<Bound<'py, PyArray4<i64>>> {
    let s = img_size / 32;
    let c = match (s, features.len()) {
        (0, _) => {
            return Err(PyValueError::new_err(format!(
                "img_size must be at least 32, got {img_size}"
            )))
        }
        (_, n) if n % (s * s) == 0 && n > 0 => n / (s * s),
        (_, n) => {
            return Err(PyValueError::new_err(format!(
                "features hold {n} values, not a whole number of channels on the {s}×{s} grid of img_size {img_size}"
            )))
        }
    };
    let data: Vec<f32> = features.as_array().iter().copied().collect();
    let f = FeatureGrid::new(s, s, c, data).map_err(py_err)?;
    let given = match masks {
        None => None,
        Some(m) => {
            if m.shape() != [s, s] {
                return Err(PyValueError::new_err(format!(
                    "masks must be the {s}×{s} grid's labels, got shape {:?}",
                    m.shape()
                )));
            }
            Some(m.as_array().iter().copied().collect::<Vec<i64>>())
        }
    };
    let (out_h, out_w) = mask_size;
    let labels = py
        .detach(|| -> Result<LabelMap> {
            let cells = match given {
                // Ranked 0..k in the wrapper (numpy.unique: torch.unique's sorted order).
                Some(m) => {
                    let k = m.iter().copied().max().map_or(1, |v| v.max(0) as usize + 1);
                    let labels = m.iter().map(|&v| u32::try_from(v).unwrap_or(u32::MAX)).collect();
                    LabelMap::new(labels, s, s, k)?
                }
                None => {
                    let params = SegmentParams {
                        tau,
                        alpha,
                        tau_max: None,
                        mode: Mode::Official,
                    };
                    let seg = pollster::block_on(Compute::cpu().grow(f.clone(), &params))?;
                    seg.cell_labels(tau, Numbering::Mode)?
                }
            };
            diffcut::refine::assign(&f, &cells, out_w, out_h)
        })
        .map_err(py_err)?;
    let v: Vec<i64> = labels.labels().iter().map(|&l| i64::from(l)).collect();
    v.into_pyarray(py).reshape([1, 1, out_h, out_w])
}

/// An RGB image `[H, W, 3]` uint8 from a file, EXIF orientation applied (as the CLI reads it).
#[pyfunction]
fn load_rgb<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyArray3<u8>>> {
    let img = py.detach(|| load_image(&path)).map_err(py_err)?;
    let (w, h) = img.dimensions();
    img.into_raw().into_pyarray(py).reshape([h as usize, w as usize, 3])
}

fn rgb_image(image: &PyReadonlyArray3<'_, u8>) -> PyResult<RgbImage> {
    let shape = image.shape();
    if shape[2] != 3 || shape[0] == 0 || shape[1] == 0 {
        return Err(PyValueError::new_err(format!(
            "image must be uint8 [H, W, 3] (RGB) with H, W ≥ 1, got shape {shape:?}"
        )));
    }
    let (h, w) = (u32::try_from(shape[0]), u32::try_from(shape[1]));
    let (Ok(h), Ok(w)) = (h, w) else {
        return Err(PyValueError::new_err(format!("image of shape {shape:?} is too large")));
    };
    diffcut::image_io::check_pixels(w as usize, h as usize, "image").map_err(py_err)?;
    let data: Vec<u8> = image.as_array().iter().copied().collect();
    RgbImage::from_raw(w, h, data).ok_or_else(|| PyValueError::new_err("image data does not fill its shape"))
}

/// The feature source: a model folder, or the weight-free colour features on a `grid`.
fn source(model: Option<PathBuf>, grid: usize, size: u32, noise: &str, model_device: &str) -> PyResult<FeatureSource> {
    let model_device: Device = choice(model_device)?;
    let Ok(noise) = noise.parse::<NoiseChoice>();
    match model {
        #[cfg(feature = "model")]
        Some(dir) => FeatureSource::diffusion_from_dir(&dir, size, &noise, model_device).map_err(py_err),
        #[cfg(not(feature = "model"))]
        Some(_) => {
            let _ = (size, noise, model_device);
            Err(no_model())
        }
        None => Ok(FeatureSource::Color { grid }),
    }
}

/// An image segmented end to end → int32 labels `[H, W]` (the CLI's `diffcut segment`).
#[pyfunction]
#[pyo3(signature = (image, tau, alpha, grid, refine, mode, device, model, size, noise, model_device))]
#[allow(clippy::too_many_arguments)]
fn segment<'py>(
    py: Python<'py>,
    image: PyReadonlyArray3<'py, u8>,
    tau: Option<f64>,
    alpha: Option<f32>,
    grid: usize,
    refine: &str,
    mode: &str,
    device: &str,
    model: Option<PathBuf>,
    size: u32,
    noise: &str,
    model_device: &str,
) -> PyResult<Bound<'py, PyArray2<i32>>> {
    let img = rgb_image(&image)?;
    let refine: Refine = choice(refine)?;
    let mode: Mode = choice(mode)?;
    let device: Device = choice(device)?;
    let (h, w) = (img.height() as usize, img.width() as usize);
    let labels = py.detach(|| -> PyResult<LabelMap> {
        let source = source(model, grid, size, noise, model_device)?;
        let defaults = source.default_params();
        let params = SegmentParams {
            tau: tau.unwrap_or(defaults.tau),
            alpha: alpha.unwrap_or(defaults.alpha),
            tau_max: None,
            mode,
        };
        let segmenter = Segmenter::new(source, compute(device).map_err(py_err)?);
        let run = async {
            let seg = segmenter.segment(&img, &params).await?;
            segmenter.labels(&seg, &img, params.tau, Numbering::Mode, refine).await
        };
        pollster::block_on(run).map_err(py_err)
    })?;
    let v: Vec<i32> = labels.labels().iter().map(|&l| l as i32).collect();
    v.into_pyarray(py).reshape([h, w])
}

/// Diffusion features of an image → float32 `[h, w, C]` (the CLI's `diffcut features`).
#[pyfunction]
#[pyo3(signature = (image, model, size, noise, model_device))]
fn features<'py>(
    py: Python<'py>,
    image: PyReadonlyArray3<'py, u8>,
    model: PathBuf,
    size: u32,
    noise: &str,
    model_device: &str,
) -> PyResult<Bound<'py, PyArray3<f32>>> {
    let img = rgb_image(&image)?;
    let f = py.detach(|| -> PyResult<FeatureGrid> {
        let segmenter = Segmenter::new(source(Some(model), 0, size, noise, model_device)?, Compute::cpu());
        pollster::block_on(segmenter.features(&img)).map_err(py_err)
    })?;
    f.data.into_pyarray(py).reshape([f.h, f.w, f.c])
}

/// A 2-D label array as `u16` values (the evaluation's label type), refusing what does not fit.
fn label_values(name: &str, a: &PyReadonlyArray2<'_, i64>) -> PyResult<Vec<u16>> {
    a.as_array()
        .iter()
        .map(|&v| {
            u16::try_from(v)
                .map_err(|_| PyValueError::new_err(format!("{name} holds {v}; labels must be in 0..=65535")))
        })
        .collect()
}

/// The report as a Python dict, through the CLI's JSON (`diffcut miou --json`), with the counts
/// that [`merge_counts`] takes back.
fn report_dict<'py>(py: Python<'py>, json: &serde_json::Value, report: &MiouReport) -> PyResult<Bound<'py, PyDict>> {
    let json_mod = py.import("json")?;
    let d: Bound<'py, PyDict> = json_mod.call_method1("loads", (json.to_string(),))?.cast_into()?;
    d.set_item("true_positives", report.true_positives.clone())?;
    d.set_item("false_positives", report.false_positives.clone())?;
    d.set_item("false_negatives", report.false_negatives.clone())?;
    d.set_item("pixels", report.pixels)?;
    Ok(d)
}

/// Counts of a report dict (as [`report_dict`] writes them) back into an accumulator.
fn merge_counts(acc: &mut Accumulator, d: &Bound<'_, PyDict>) -> PyResult<()> {
    let get = |k: &str| -> PyResult<Bound<'_, PyAny>> {
        d.get_item(k)?
            .ok_or_else(|| PyValueError::new_err(format!("counts lack {k:?} (pass what score() returned)")))
    };
    let report = MiouReport {
        miou: f64::NAN,
        pixel_accuracy: f64::NAN,
        per_class_iou: Vec::new(),
        images: get("images")?.extract()?,
        pixels: get("pixels")?.extract()?,
        true_positives: get("true_positives")?.extract()?,
        false_positives: get("false_positives")?.extract()?,
        false_negatives: get("false_negatives")?.extract()?,
    };
    acc.merge(&report).map_err(py_err)
}

/// DiffCut's mIoU over image pairs (the CLI's `diffcut miou`).
#[pyfunction]
#[pyo3(signature = (gt, pred, classes, ignore, background_merge))]
fn miou<'py>(
    py: Python<'py>,
    gt: Vec<PyReadonlyArray2<'py, i64>>,
    pred: Vec<PyReadonlyArray2<'py, i64>>,
    classes: usize,
    ignore: Option<u16>,
    background_merge: bool,
) -> PyResult<Bound<'py, PyDict>> {
    if gt.len() != pred.len() {
        return Err(PyValueError::new_err(format!(
            "{} ground-truth maps but {} predictions",
            gt.len(),
            pred.len()
        )));
    }
    let mut pairs = Vec::with_capacity(gt.len());
    for (i, (g, p)) in gt.iter().zip(&pred).enumerate() {
        if g.shape() != p.shape() {
            return Err(PyValueError::new_err(format!(
                "image {i}: ground truth is {:?} but the prediction is {:?}",
                g.shape(),
                p.shape()
            )));
        }
        pairs.push((label_values("gt", g)?, label_values("pred", p)?));
    }
    let protocol = Protocol {
        background_merge,
        ..Protocol::new(classes, ignore)
    };
    let report = py
        .detach(|| -> Result<MiouReport> {
            let mut acc = Accumulator::with_protocol(protocol)?;
            for (i, (g, p)) in pairs.iter().enumerate() {
                acc.add(g, p).map_err(|e| match e {
                    Error::Eval(m) => Error::Eval(format!("image {i}: {m}")),
                    other => other,
                })?;
            }
            Ok(acc.finish())
        })
        .map_err(py_err)?;
    report_dict(py, &report.to_json(), &report)
}

/// One benchmark evaluation, opened once per process and scored image by image (the CLI's
/// `diffcut eval`, split so that workers can share the images).
#[pyclass(name = "EvalJob", module = "diffcut", frozen)]
struct PyEvalJob {
    job: EvalJob,
}

#[pymethods]
impl PyEvalJob {
    #[new]
    #[pyo3(signature = (dataset, root, model, size, noise, model_device, device, limit, cache, tau, alpha, grid, refine, class_map, image_list))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        dataset: &str,
        root: PathBuf,
        model: Option<PathBuf>,
        size: u32,
        noise: &str,
        model_device: &str,
        device: &str,
        limit: Option<usize>,
        cache: Option<PathBuf>,
        tau: Option<f64>,
        alpha: Option<f32>,
        grid: usize,
        refine: &str,
        class_map: Option<PathBuf>,
        image_list: Option<PathBuf>,
    ) -> PyResult<Self> {
        #[cfg(not(feature = "model"))]
        if model.is_some() {
            return Err(no_model());
        }
        let cfg = EvalConfig {
            dataset: choice(dataset)?,
            root,
            options: DatasetOptions { class_map, image_list },
            #[cfg(feature = "model")]
            model,
            #[cfg(feature = "model")]
            size,
            #[cfg(feature = "model")]
            noise: noise.parse().unwrap_or_else(|never| match never {}),
            #[cfg(feature = "model")]
            model_device: choice(model_device)?,
            device: choice(device)?,
            limit,
            cache,
            tau,
            alpha,
            grid,
            refine: choice(refine)?,
            #[cfg(feature = "model")]
            open_vocab: None,
        };
        #[cfg(not(feature = "model"))]
        let _ = (size, noise, choice::<Device>(model_device)?);
        let job = py.detach(|| pollster::block_on(EvalJob::open(&cfg))).map_err(py_err)?;
        Ok(Self { job })
    }

    fn __len__(&self) -> usize {
        self.job.len()
    }

    /// The images' names, in scoring order.
    fn names<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.job.names())
    }

    /// Scores the images at `indices` → their counts (a dict [`PyEvalJob::report`] merges), with
    /// how many were computed and how many read from the cache.
    fn score<'py>(&self, py: Python<'py>, indices: Vec<usize>) -> PyResult<Bound<'py, PyDict>> {
        let (report, computed, cached) = py
            .detach(|| -> Result<(MiouReport, usize, usize)> {
                let mut acc = self.job.accumulator();
                let (mut computed, mut cached) = (0, 0);
                for i in indices {
                    match pollster::block_on(self.job.score(i, &mut acc))? {
                        Scored::Computed => computed += 1,
                        Scored::Cached => cached += 1,
                    }
                }
                Ok((acc.finish(), computed, cached))
            })
            .map_err(py_err)?;
        let d = report_dict(py, &report.to_json(), &report)?;
        d.set_item("computed", computed)?;
        d.set_item("cached", cached)?;
        Ok(d)
    }

    /// Merges the counts of [`PyEvalJob::score`] calls → the run's report, as `diffcut eval
    /// --json` writes it.
    fn report<'py>(&self, py: Python<'py>, parts: Vec<Bound<'py, PyDict>>) -> PyResult<Bound<'py, PyDict>> {
        let mut acc = self.job.accumulator();
        let (mut computed, mut cached) = (0usize, 0usize);
        for p in &parts {
            merge_counts(&mut acc, p)?;
            computed += p.get_item("computed")?.map_or(Ok(0), |v| v.extract())?;
            cached += p.get_item("cached")?.map_or(Ok(0), |v| v.extract())?;
        }
        let outcome = self.job.outcome(&acc, computed, cached);
        let d = report_dict(py, &outcome.to_json(), &outcome.report)?;
        d.set_item("summary", outcome.summary())?;
        Ok(d)
    }

    /// The folder holding this run's cached predictions (and features), if the job has a cache.
    #[getter]
    fn cache_dir(&self) -> Option<PathBuf> {
        self.job.cache_dir().map(PathBuf::from)
    }
}

/// The feature kinds' default τ and α, as the CLI applies them.
#[pyfunction]
fn defaults<'py>(py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for kind in diffcut::segmenter::FeatureKind::ALL {
        let s = kind.defaults();
        let k = PyDict::new(py);
        k.set_item("tau", s.tau)?;
        k.set_item("alpha", s.alpha)?;
        d.set_item(kind.name(), k)?;
    }
    Ok(d)
}

#[pymodule]
fn _diffcut(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(recursive_ncut, m)?)?;
    m.add_function(wrap_pyfunction!(autosc, m)?)?;
    m.add_function(wrap_pyfunction!(generate_masks, m)?)?;
    m.add_function(wrap_pyfunction!(load_rgb, m)?)?;
    m.add_function(wrap_pyfunction!(segment, m)?)?;
    m.add_function(wrap_pyfunction!(features, m)?)?;
    m.add_function(wrap_pyfunction!(miou, m)?)?;
    m.add_function(wrap_pyfunction!(defaults, m)?)?;
    m.add_class::<PySegmentTree>()?;
    m.add_class::<PyEvalJob>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    let built = PyDict::new(m.py());
    built.set_item("gpu", cfg!(feature = "gpu"))?;
    built.set_item("model", cfg!(feature = "model"))?;
    m.add("FEATURES", built)?;
    Ok(())
}
