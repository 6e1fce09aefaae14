//! `diffcut`: DiffCut zero-shot segmentation from the command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use diffcut::annotate::{annotate, Legend};
use diffcut::eval::datasets::{DatasetKind, DatasetOptions};
use diffcut::eval::miou::load_label_png;
use diffcut::eval::open_vocab::{self, OpenVocabConfig};
use diffcut::eval::runner::{self, EvalConfig, FeatureKind};
use diffcut::eval::{evaluate_dirs_with, Protocol};
use diffcut::image_io::{encode_rgb_png, load_image, overlay, palette};
use diffcut::naming::{parse_labels, Namer, Parts};
use diffcut::ncut::autosc::autosc;
use diffcut::ncut::Method;
use diffcut::segmenter::{
    Compute, Device, FeatureGrid, FeatureSource, Mode, NoiseChoice, Numbering, Refine, SegmentParams, SegmentTree,
    Segmentation, Segmenter,
};
use diffcut::select::{cutout, encode_rgba_png, Step};
use diffcut::{files, npy, Error, Result};
use indicatif::{ProgressBar, ProgressStyle};

const ABOUT: &str = "DiffCut: zero-shot segmentation by recursive Normalized Cut.

A graph is built over a grid of patch features: W = minmax(cos)^α, the cosine similarity of
every pair of patches, min-max scaled to [0, 1] and sharpened by the exponent α. It is cut in
two along its Fiedler vector (the best of 100 thresholds by Shi & Malik's Normalized Cut), and
each part is cut again while the best cut's NCut value stays below τ. Lower τ → fewer, larger
segments; higher τ → more, smaller ones. NCut values lie in [0, 2].

Couairon et al., \"DiffCut: Catalyzing Zero-Shot Semantic Segmentation with Diffusion Features
and Recursive Normalized Cut\", NeurIPS 2024.";

#[derive(Parser)]
#[command(name = "diffcut", version, about = "DiffCut: zero-shot segmentation by recursive Normalized Cut", long_about = ABOUT)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options shared by the commands that cut a graph.
#[derive(clap::Args, Clone, Copy)]
struct CutArgs {
    /// NCut threshold τ in (0, 2]: a region is split while its best cut's NCut value is below τ.
    /// Default: the feature source's own: 0.5 for diffusion features (DiffCut's setting for
    /// SSD-1B, also used by `ncut`), 0.5 for the weight-free colour features (measured on
    /// benches/features).
    #[arg(long)]
    tau: Option<f64>,
    /// Affinity exponent α > 0 in W = minmax(cos)^α: larger α keeps only strong similarities.
    /// Default: the feature source's own (10 for both sources).
    #[arg(long)]
    alpha: Option<f32>,
    /// Grow the segment tree up to this τ (≥ --tau) so that --tree can be re-cut at any τ up to it
    /// with `diffcut recut`, instantly. Defaults to --tau.
    #[arg(long)]
    tau_max: Option<f64>,
    /// `official` reproduces the official code's partitions exactly, quirks included: cells
    /// with an exact zero in their affinity row are cut only at the root, and labels are
    /// assembled in float32, which merges some leaves once there are a few dozen splits.
    /// `clean` keeps every cell in the recursion and gives one label per leaf of the tree.
    #[arg(long, value_enum, default_value_t = Mode::Official)]
    mode: Mode,
    /// Where the NCut runs: `cpu` (Lanczos in Rust) or `gpu` (our WGSL kernels through wgpu:
    /// Vulkan, Metal or DX12). Same partitions up to floating-point ties.
    #[arg(long, value_enum, default_value_t = Device::Cpu)]
    device: Device,
}

/// A model folder and how to run it.
#[derive(clap::Args, Clone)]
struct ModelArgs {
    /// A folder made by models/convert.py (manifest.json, config.json, weight shards).
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    opts: ModelOpts,
}

#[derive(clap::Args, Clone)]
struct ModelOpts {
    /// Input size S: the image is resized to S×S (the model must hold constants for S).
    #[arg(long, default_value_t = 1024)]
    size: u32,
    /// The noise added to the latent: `seed42` (the official draw, shipped with the model),
    /// `zero`, or a float32 .npy of shape [1, 4, S/8, S/8].
    #[arg(long, default_value = "seed42")]
    noise: NoiseChoice,
    /// Where the model runs: `cpu` (burn-flex) or `gpu` (burn on wgpu: Vulkan, Metal or DX12, the
    /// same WGSL as the browser).
    #[arg(long, value_enum, default_value_t = Device::Cpu)]
    model_device: Device,
}

/// A CLIP folder and how to run it.
#[derive(clap::Args, Clone)]
struct ClipArgs {
    /// A folder made by models/convert_clip.py.
    #[arg(long)]
    clip: PathBuf,
    /// CLIP's input size S (a multiple of 32): the image is resized to S×S. The official
    /// evaluation uses 1024 (2048 for COCO-Object).
    #[arg(long, default_value_t = 1024)]
    size: u32,
    /// Where the model runs: `cpu` (burn-flex) or `gpu` (burn on wgpu).
    #[arg(long, value_enum, default_value_t = Device::Cpu)]
    model_device: Device,
}

impl ModelOpts {
    /// The model folder `dir` as a feature source, or the colour features on a `grid` without one.
    fn source_or_color(&self, dir: Option<&Path>, grid: usize, pb: &ProgressBar) -> Result<FeatureSource> {
        match dir {
            Some(dir) => self.source(dir, pb),
            None => Ok(FeatureSource::Color { grid }),
        }
    }

    /// The model folder `dir` as a feature source.
    fn source(&self, dir: &Path, pb: &ProgressBar) -> Result<FeatureSource> {
        pb.set_message("loading the model");
        FeatureSource::diffusion_from_dir(dir, self.size, &self.noise, self.model_device)
    }
}

impl CutArgs {
    /// The parameters, `defaults` (the feature source's) for what was not given.
    fn params(&self, defaults: SegmentParams) -> SegmentParams {
        SegmentParams {
            tau: self.tau.unwrap_or(defaults.tau),
            alpha: self.alpha.unwrap_or(defaults.alpha),
            tau_max: self.tau_max,
            mode: self.mode,
        }
    }

    fn compute(&self) -> Result<Compute> {
        pollster::block_on(Compute::open(self.device.into()))
    }

    fn segmenter(&self, source: FeatureSource) -> Result<Segmenter> {
        Ok(Segmenter::new(source, self.compute()?))
    }
}

#[derive(Subcommand)]
enum Command {
    /// Recursive NCut of a feature grid: FEATURES.npy (float32 [H, W, C]) → LABELS.npy (int32
    /// [H, W], one label per segment, 0..K-1).
    ///
    /// With --method autosc, the paper's baseline instead: one spectral clustering into K
    /// clusters, K chosen by the eigengap over α ∈ {1, 5, 10, 15} (τ and α are not used; grids of
    /// at most 64×64); the labels are the cluster indices 0..K-1 as the official code gives them.
    ///
    /// Example: diffcut ncut feats.npy --tau 0.5 --alpha 10 --out labels.npy --tree tree.json
    Ncut {
        /// Features, a float32 .npy of shape [H, W, C] (token (y, x) at [y, x, :]).
        features: PathBuf,
        #[command(flatten)]
        cut: CutArgs,
        /// `recursive` (DiffCut) or `autosc` (spectral clustering with the eigengap heuristic,
        /// the official `diffcut/autosc.py`).
        #[arg(long, value_enum, default_value_t = Method::Recursive)]
        method: Method,
        /// Where to write the labels: an int32 .npy of shape [H, W].
        #[arg(long)]
        out: PathBuf,
        /// Also write the segment tree (every split with its NCut value, Fiedler vector and the
        /// 100-threshold NCut curve) as JSON.
        #[arg(long)]
        tree: Option<PathBuf>,
        /// Time the computation (affinity + tree + labels, no file I/O): run it N times and print
        /// the best wall time to stderr; with --device gpu also the GPU's dispatches, readbacks
        /// and tree levels.
        #[arg(long, value_name = "N")]
        bench: Option<u32>,
    },
    /// Segment an image with weight-free colour/texture features (no download needed).
    ///
    /// The image is squashed to a square, described by a GRID×GRID grid of patch features, cut
    /// recursively, and every pixel is assigned to the segment whose mean feature it matches best,
    /// at the image's own size.
    ///
    /// Example: diffcut segment samples/astronaut.jpg --out mask.png --overlay overlay.png
    Segment {
        /// Any PNG, JPEG, GIF, BMP, TIFF or WebP image (EXIF orientation is applied).
        image: PathBuf,
        #[command(flatten)]
        cut: CutArgs,
        /// Cells per side of the feature grid (1..=128). 32 is DiffCut's grid at 1024 px.
        #[arg(long, default_value_t = 32)]
        grid: usize,
        /// The label mask: a grey PNG at the image's size, pixel value = segment id (8-bit for
        /// ≤ 256 segments, else 16-bit).
        #[arg(long)]
        out: PathBuf,
        /// Also write the segments in colour over the photo.
        #[arg(long)]
        overlay: Option<PathBuf>,
        /// Also write the segment tree as JSON (see `ncut --tree`).
        #[arg(long)]
        tree: Option<PathBuf>,
        /// Edge refinement: `demo` = PAMR with DiffCut's demo preset (30 iterations, dilations
        /// 1–64, at up to 1024 px), `eval` = its evaluation preset (10 iterations, dilations 1–8),
        /// `none` = the concept assignment alone.
        #[arg(long, value_enum, default_value_t = Refine::Demo)]
        refine: Refine,
        /// Use diffusion features from this converted model folder (models/convert.py) instead of
        /// the weight-free colour features; the grid is then the model's (S/32 for SSD-1B).
        #[arg(long)]
        model: Option<PathBuf>,
        /// With --model: the input size S, the noise and the device that runs the model.
        #[command(flatten)]
        model_opts: ModelOpts,
        /// Name the segments with this CLIP folder (models/convert_clip.py); needs --labels.
        #[arg(long, requires = "labels")]
        clip: Option<PathBuf>,
        /// With --clip: the classes (voc, context, coco-object, ade, cityscapes, @FILE, or inline
        /// "a;b,c;d"; see `diffcut name`). The overlay is then coloured by class, with names.
        #[arg(long, requires = "clip")]
        labels: Option<String>,
        /// With --clip: CLIP's input size (a multiple of 32).
        #[arg(long, default_value_t = 1024)]
        clip_size: u32,
        /// With --clip: also write the names as JSON (see `diffcut name`).
        #[arg(long, requires = "clip")]
        json: Option<PathBuf>,
    },
    /// Cut an object out of a photo: the region of the segment tree under a pixel, as an RGBA PNG
    /// (the photo's pixels where selected, transparent elsewhere).
    ///
    /// The segment at τ under --point is taken, then --coarser N walks N regions up its chain
    /// (each holding the last) or --finer N walks down it (each time to the part holding the
    /// point). Edges come from the refined labels (--refine).
    ///
    /// Example: diffcut cutout photo.jpg --point 320,240 --coarser 1 --crop --out cut.png
    Cutout {
        /// Any PNG, JPEG, GIF, BMP, TIFF or WebP image (EXIF orientation is applied).
        image: PathBuf,
        /// The pixel to pick, `X,Y` from the top left of the image (as stored, after EXIF).
        #[arg(long, value_name = "X,Y", value_parser = parse_point)]
        point: (usize, usize),
        /// Walk N regions coarser than the segment at τ (parents; stops at the whole image).
        #[arg(long, value_name = "N", conflicts_with = "finer")]
        coarser: Option<u32>,
        /// Walk N regions finer than the segment at τ (stops where the tree does).
        #[arg(long, value_name = "N")]
        finer: Option<u32>,
        #[command(flatten)]
        cut: CutArgs,
        /// Cells per side of the feature grid (1..=128), as for `segment`.
        #[arg(long, default_value_t = 32)]
        grid: usize,
        /// Crop the cut-out to the selection's bounding box (default: the photo's size).
        #[arg(long)]
        crop: bool,
        /// The cut-out: an RGBA PNG.
        #[arg(long)]
        out: PathBuf,
        /// Also write the selection as a grey PNG at the photo's size (255 selected, 0 not).
        #[arg(long)]
        mask: Option<PathBuf>,
        /// Edge refinement, as for `segment`.
        #[arg(long, value_enum, default_value_t = Refine::Demo)]
        refine: Refine,
        /// Use diffusion features from this converted model folder, as for `segment`.
        #[arg(long)]
        model: Option<PathBuf>,
        #[command(flatten)]
        model_opts: ModelOpts,
    },
    /// Score predicted segmentations against ground truth: DiffCut's protocol (per-image Hungarian
    /// matching of segments to classes, TP/FP/FN accumulated over the set, mIoU = mean IoU over the
    /// classes that occur).
    ///
    /// Both folders hold label PNGs (8- or 16-bit grey) with the same file names. Ground-truth
    /// values are classes 0..N-1 or the ignore value; predictions are any segment ids, per image.
    ///
    /// Example: diffcut miou --gt gt/ --pred pred/ --classes 27 --ignore 255 --json scores.json
    Miou {
        /// Folder of ground-truth label PNGs.
        #[arg(long)]
        gt: PathBuf,
        /// Folder of predicted label PNGs, same names.
        #[arg(long)]
        pred: PathBuf,
        /// Number of classes N.
        #[arg(long)]
        classes: usize,
        /// Ground-truth value to ignore (must be ≥ N).
        #[arg(long)]
        ignore: Option<u16>,
        /// Merge unmatched segments into a background class first (VOC, Context, COCO-Object;
        /// the last class is the background), as DiffCut's evaluation does.
        #[arg(long)]
        background_merge: bool,
        /// Also write {miou, pixel_accuracy, per_class_iou, images} as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Evaluate on a benchmark with DiffCut's protocol (docs/ALGORITHM.md §6): centre crop (side min(H, W) − 1),
    /// 1024 px image, features on the grid, recursive NCut, assignment at 128×128, the background
    /// merge for VOC / Context / COCO-Object, PAMR (eval preset), per-image Hungarian matching.
    ///
    /// With --model (an SSD-1B folder from models/convert.py) this is the paper's setting and the
    /// paper's number printed beside ours is comparable; without it the weight-free colour features
    /// are used and it is not.
    ///
    /// With --open-vocab --clip DIR: the open-vocabulary protocol (§7.6) instead: segments at
    /// 1024×1024, PAMR (open-vocab preset), each segment named by CLIP, per-image Jaccard index.
    ///
    /// Example: diffcut eval --dataset voc --root ~/data --model ssd-1b-q8 --cache cache/ --json voc.json
    /// Example: diffcut eval --open-vocab --clip clip-q8 --dataset voc20 --root ~/data --model ssd-1b-q8
    Eval(EvalArgs),
    /// Diffusion features of an image (docs/ALGORITHM.md §1–2): the VAE encoder, DDIM noise at t = 50, and the
    /// UNet down path up to DiffCut's hook, from a model folder made by models/convert.py.
    /// Writes float32 [h, w, C] on the hook's grid (S/32 for SSD-1B), ready for `diffcut ncut`.
    ///
    /// Example: diffcut features photo.jpg --model ssd-1b-q8/ --size 1024 --out feats.npy
    Features {
        /// Any PNG, JPEG, GIF, BMP, TIFF or WebP image; it is squashed to SIZE×SIZE.
        image: PathBuf,
        #[command(flatten)]
        model: ModelArgs,
        /// Where to write the features: a float32 .npy of shape [h, w, C].
        #[arg(long)]
        out: PathBuf,
    },
    /// CLIP's dense features of an image (the official `clip_vis_dense`: the ConvNeXt trunk's last
    /// stage), from a folder made by models/convert_clip.py. Writes float32 [S/32, S/32, C].
    ///
    /// Example: diffcut clip-features photo.jpg --clip clip-q8/ --size 1024 --out dense.npy
    ClipFeatures {
        /// Any PNG, JPEG, GIF, BMP, TIFF or WebP image; it is squashed to SIZE×SIZE.
        image: PathBuf,
        #[command(flatten)]
        clip: ClipArgs,
        /// Where to write the features: a float32 .npy of shape [S/32, S/32, C].
        #[arg(long)]
        out: PathBuf,
    },
    /// CLIP text embeddings: open_clip's tokenizer and `encode_text(normalize=False)`.
    ///
    /// Example: diffcut text-embed --clip clip-q8/ --texts texts.json --out emb.npy --tokens-out ids.npy
    TextEmbed {
        /// A folder made by models/convert_clip.py (its text part is needed).
        #[arg(long)]
        clip: PathBuf,
        /// A JSON array of strings.
        #[arg(long)]
        texts: PathBuf,
        /// The embeddings: a float32 .npy of shape [n, D].
        #[arg(long)]
        out: PathBuf,
        /// Also write the token ids: an int32 .npy of shape [n, 77].
        #[arg(long)]
        tokens_out: Option<PathBuf>,
        /// Where the model runs: `cpu` or `gpu`.
        #[arg(long, value_enum, default_value_t = Device::Cpu)]
        model_device: Device,
    },
    /// Name each segment of a mask with CLIP (DiffCut's open-vocabulary extension): the segment's
    /// mean dense CLIP feature against text embeddings of the class names, as the official code.
    ///
    /// --labels is `voc`, `context`, `coco-object`, `ade` or `cityscapes` (the official sets, precomputed
    /// in the folder), `@FILE` (one class per line, synonyms separated by commas), or inline classes
    /// `"cat;dog,puppy;grass"`. The JSON lists each segment's id, class index, name and one score
    /// per class (min(exp(logit_scale), 100) · cosine, the best synonym's).
    ///
    /// Example: diffcut name photo.jpg --clip clip-q8/ --mask mask.png --labels voc --json names.json
    Name {
        /// The photo the mask was made from.
        image: PathBuf,
        #[command(flatten)]
        clip: ClipArgs,
        /// The segments: a grey label PNG (pixel value = segment id), any size (it is resized to
        /// SIZE×SIZE with nearest-exact, as the official pipeline's mask is at the input size).
        #[arg(long)]
        mask: PathBuf,
        /// The classes: a set name, @FILE or inline "a;b,c;d".
        #[arg(long)]
        labels: String,
        /// Where to write the names as JSON.
        #[arg(long)]
        json: PathBuf,
    },
    /// Re-cut a saved segment tree at another τ (≤ its tau_max) without solving anything again.
    ///
    /// Example: diffcut ncut f.npy --tau 0.5 --tau-max 1 --out a.npy --tree t.json &&
    ///          diffcut recut t.json --tau 0.3 --out b.npy
    Recut {
        /// A tree written by `ncut --tree` or `segment --tree`.
        tree: PathBuf,
        /// The new τ, at most the tree's tau_max.
        #[arg(long)]
        tau: f64,
        /// Labels on the feature grid: an int32 .npy of shape [H, W].
        #[arg(long)]
        out: PathBuf,
    },
}

/// A `--labels @FILE`'s text.
fn read_label_file(path: &str) -> Result<String> {
    String::from_utf8(files::read(Path::new(path))?).map_err(|_| Error::InvalidParameter {
        name: "labels",
        expected: "a UTF-8 text file",
        got: path.to_string(),
    })
}

fn spinner(msg: &'static str) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid template"));
    pb.set_message(msg);
    pb.enable_steady_tick(Duration::from_millis(100));
    pb
}

/// Tells the user when the official float32 label assembly merged leaves of the tree.
fn warn_if_merged(seg: &Segmentation, tau: f64) {
    if let Some((leaves, labels)) = seg.merged_leaves(tau) {
        eprintln!(
            "note: the official float32 label assembly merged the tree's {leaves} leaves into {labels} labels \
             (as the official code does); --mode clean gives one label per leaf"
        );
    }
}

fn read_features(path: &Path) -> Result<FeatureGrid> {
    let bytes = files::read(path)?;
    let (shape, data) = npy::read_f32(&bytes, 3).map_err(|e| match e {
        Error::Npy(m) => Error::Npy(format!("{}: {m} (features must be float32 [H, W, C])", path.display())),
        other => other,
    })?;
    FeatureGrid::new(shape[0], shape[1], shape[2], data)
}

/// Labels as the int32 `[h, w]` .npy the CLI writes.
fn labels_npy([h, w]: [usize; 2], labels: &[u32]) -> Vec<u8> {
    let labels: Vec<i32> = labels.iter().map(|&l| l as i32).collect();
    npy::encode_i32(&[h, w], &labels)
}

/// `X,Y` → `(x, y)`: two non-negative integers.
fn parse_point(text: &str) -> std::result::Result<(usize, usize), String> {
    let bad = || format!("expected X,Y (two non-negative integers), got {text:?}");
    let (x, y) = text.split_once(',').ok_or_else(bad)?;
    Ok((
        x.trim().parse().map_err(|_| bad())?,
        y.trim().parse().map_err(|_| bad())?,
    ))
}

/// The outputs of one command, written together at its end: all of them or, if one cannot be
/// written, none (see `files::write_all`).
#[derive(Default)]
struct Outputs(Vec<(PathBuf, Vec<u8>)>);

impl Outputs {
    fn add(&mut self, path: &Path, bytes: Vec<u8>) -> &mut Self {
        self.0.push((path.to_path_buf(), bytes));
        self
    }

    fn write(&self) -> Result<()> {
        let all: Vec<(&Path, &[u8])> = self.0.iter().map(|(p, b)| (p.as_path(), b.as_slice())).collect();
        files::write_all(&all)
    }
}

/// AutoSC chooses its own α and number of clusters, on the CPU, and grows no tree: the options
/// that mean something only for the recursive cut are refused rather than ignored.
fn refuse_for_autosc(cut: &CutArgs, tree: bool) -> Result<()> {
    let given = [
        ("--tau", cut.tau.is_some()),
        ("--alpha", cut.alpha.is_some()),
        ("--tau-max", cut.tau_max.is_some()),
        ("--tree", tree),
        ("--device gpu", cut.device == Device::Gpu),
    ];
    match given.iter().find(|(_, set)| *set) {
        Some((flag, _)) => Err(Error::InvalidParameter {
            name: "method",
            expected: "given without --tau, --alpha, --tau-max, --tree and --device gpu when it is autosc \
                       (AutoSC picks α and its clusters from the eigengap, on the CPU, and grows no tree)",
            got: format!("autosc with {flag}"),
        }),
        None => Ok(()),
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Ncut {
            features,
            cut,
            method: Method::Autosc,
            out,
            tree,
            bench,
        } => {
            refuse_for_autosc(&cut, tree.is_some())?;
            let f = read_features(&features)?;
            let mut best = std::time::Duration::MAX;
            let mut result = None;
            for _ in 0..bench.unwrap_or(1).max(1) {
                let t = std::time::Instant::now();
                result = Some(autosc(&f)?);
                best = best.min(t.elapsed());
            }
            let a = result.expect("at least one run");
            if let Some(runs) = bench {
                eprintln!("best of {runs}: {:.2} ms", best.as_secs_f64() * 1e3);
            }
            files::write(&out, &labels_npy([f.h, f.w], &a.labels))?;
            eprintln!(
                "{} segments (AutoSC: {} clusters from the eigengap at α = {}) → {}",
                a.segments(),
                a.clusters,
                a.alpha,
                out.display()
            );
        }
        Command::Ncut {
            features,
            cut,
            method: Method::Recursive,
            out,
            tree,
            bench,
        } => {
            let f = read_features(&features)?;
            let compute = cut.compute()?;
            // Features of unknown origin: the paper's values.
            let params = cut.params(SegmentParams::default());
            if let Some(runs) = bench {
                let mut best = std::time::Duration::MAX;
                let mut work = None;
                for _ in 0..runs.max(1) {
                    let t = std::time::Instant::now();
                    let seg = pollster::block_on(compute.grow(f.clone(), &params))?;
                    best = best.min(t.elapsed());
                    work = seg.gpu_work;
                }
                let work = work.map_or_else(String::new, |w| {
                    format!(
                        " (GPU: dispatches {} readbacks {} levels {})",
                        w.dispatches, w.readbacks, w.levels
                    )
                });
                eprintln!("best of {runs}: {:.2} ms{work}", best.as_secs_f64() * 1e3);
            }
            let seg = pollster::block_on(compute.grow(f, &params))?;
            warn_if_merged(&seg, params.tau);
            let labels = seg.cell_labels(params.tau, Numbering::Mode)?;
            let mut outputs = Outputs::default();
            outputs.add(&out, labels_npy(seg.tree.grid, labels.labels()));
            if let Some(t) = tree {
                outputs.add(&t, seg.tree.to_json()?);
            }
            outputs.write()?;
            eprintln!("{} segments → {}", labels.segments(), out.display());
        }
        Command::Features { image, model, out } => {
            let pb = spinner("decoding");
            let img = load_image(&image)?;
            let segmenter = Segmenter::new(model.opts.source(&model.model, &pb)?, Compute::cpu());
            pb.set_message("diffusion features");
            let f = pollster::block_on(segmenter.features(&img))?;
            files::write(&out, &npy::encode_f32(&[f.h, f.w, f.c], &f.data))?;
            pb.finish_and_clear();
            eprintln!("features [{}, {}, {}] → {}", f.h, f.w, f.c, out.display());
        }
        Command::ClipFeatures { image, clip, out } => {
            let pb = spinner("decoding");
            let img = load_image(&image)?;
            pb.set_message("loading CLIP");
            let namer = Namer::from_dir(&clip.clip, Parts::Image, clip.model_device)?;
            namer.check_size(clip.size)?;
            pb.set_message("CLIP dense features");
            let d = pollster::block_on(namer.dense(&img, clip.size))?;
            files::write(&out, &npy::encode_f32(&d.shape, &d.values))?;
            pb.finish_and_clear();
            eprintln!("CLIP features {:?} → {}", d.shape, out.display());
        }
        Command::TextEmbed {
            clip,
            texts,
            out,
            tokens_out,
            model_device,
        } => {
            let texts: Vec<String> =
                serde_json::from_slice(&files::read(&texts)?).map_err(|e| Error::InvalidParameter {
                    name: "texts",
                    expected: "a JSON array of strings",
                    got: format!("{}: {e}", texts.display()),
                })?;
            if texts.is_empty() {
                return Err(Error::InvalidParameter {
                    name: "texts",
                    expected: "a JSON array of at least one string",
                    got: "[]".into(),
                });
            }
            let pb = spinner("loading CLIP");
            let namer = Namer::from_dir(&clip, Parts::Text, model_device)?;
            pb.set_message("text embeddings");
            let (ids, emb) = pollster::block_on(namer.text_embeddings(&texts))?;
            let n = texts.len();
            let emb_npy = npy::encode_f32(&[n, emb.len() / n], &emb);
            let ids: Vec<i32> = ids.iter().map(|&i| i as i32).collect();
            let ids_npy = npy::encode_i32(&[n, ids.len() / n], &ids);
            let mut outs: Vec<(&Path, &[u8])> = vec![(&out, &emb_npy)];
            if let Some(t) = &tokens_out {
                outs.push((t, &ids_npy));
            }
            files::write_all(&outs)?;
            pb.finish_and_clear();
            eprintln!("{n} text embeddings [{n}, {}] → {}", emb.len() / n, out.display());
        }
        Command::Name {
            image,
            clip,
            mask,
            labels,
            json,
        } => {
            let labels = parse_labels(&labels, read_label_file)?;
            let pb = spinner("decoding");
            let img = load_image(&image)?;
            let (mw, mh, ids) = load_label_png(&mask)?;
            let ids: Vec<u32> = ids.into_iter().map(u32::from).collect();
            pb.set_message("loading CLIP");
            let namer = Namer::from_dir_for(&clip.clip, &labels, clip.model_device)?;
            namer.check_size(clip.size)?;
            pb.set_message("text classifier");
            let classifier = pollster::block_on(namer.classifier(&labels))?;
            pb.set_message("naming segments");
            let naming =
                pollster::block_on(namer.name(&img, &ids, [mh as usize, mw as usize], &classifier, clip.size))?;
            files::write(&json, &serde_json::to_vec_pretty(&naming).expect("serialisable"))?;
            pb.finish_and_clear();
            for s in &naming.segments {
                eprintln!("segment {:>3}: {}", s.id, s.name);
            }
            eprintln!("names → {}", json.display());
        }
        Command::Segment {
            image,
            cut,
            grid,
            out,
            overlay: overlay_path,
            tree,
            refine,
            model,
            model_opts,
            clip,
            labels: label_spec,
            clip_size,
            json,
        } => {
            let pb = spinner("decoding");
            let img = load_image(&image)?;
            let naming_with = match (&clip, &label_spec) {
                (Some(dir), Some(spec)) => {
                    let labels = parse_labels(spec, read_label_file)?;
                    pb.set_message("loading CLIP");
                    let namer = Namer::from_dir_for(dir, &labels, model_opts.model_device)?;
                    namer.check_size(clip_size)?;
                    Some((namer, labels))
                }
                _ => None,
            };
            let source = model_opts.source_or_color(model.as_deref(), grid, &pb)?;
            let params = cut.params(source.default_params());
            let segmenter = cut.segmenter(source)?;
            pb.set_message("features and recursive NCut");
            let seg = pollster::block_on(segmenter.segment(&img, &params))?;
            pb.set_message(if refine == Refine::None {
                "assigning pixels"
            } else {
                "assigning pixels + PAMR"
            });
            let labels = pollster::block_on(segmenter.labels(&seg, &img, params.tau, Numbering::Mode, refine))?;
            let named = match &naming_with {
                Some((namer, spec)) => {
                    pb.set_message("naming segments");
                    let classifier = pollster::block_on(namer.classifier(spec))?;
                    let dims = [labels.height(), labels.width()];
                    let naming = pollster::block_on(namer.name(&img, labels.labels(), dims, &classifier, clip_size))?;
                    Some((naming, classifier))
                }
                None => None,
            };
            let mut outputs = Outputs::default();
            outputs.add(&out, labels.to_png()?);
            if let Some(p) = overlay_path {
                let ov = match &named {
                    Some((naming, classifier)) => {
                        let classes = naming.class_map(labels.labels());
                        let n = classifier.classes().len();
                        let colours = palette(n);
                        let legend: Vec<Legend> = (0..n)
                            .map(|k| Legend {
                                colour: colours[k],
                                name: classifier.name(k).to_string(),
                            })
                            .collect();
                        annotate(&overlay(&img, &classes, n, 0.55), &classes, &legend)
                    }
                    None => overlay(&img, labels.labels(), labels.segments(), 0.55),
                };
                outputs.add(&p, encode_rgb_png(&ov)?);
            }
            if let (Some(p), Some((naming, _))) = (&json, &named) {
                outputs.add(p, serde_json::to_vec_pretty(naming).expect("serialisable"));
            }
            if let Some(t) = tree {
                outputs.add(&t, seg.tree.to_json()?);
            }
            outputs.write()?;
            pb.finish_and_clear();
            warn_if_merged(&seg, params.tau);
            if let Some((naming, _)) = &named {
                for s in &naming.segments {
                    eprintln!("segment {:>3}: {}", s.id, s.name);
                }
            }
            eprintln!("{} segments → {}", labels.segments(), out.display());
        }
        Command::Cutout {
            image,
            point,
            coarser,
            finer,
            cut,
            grid,
            crop,
            out,
            mask: mask_path,
            refine,
            model,
            model_opts,
        } => {
            let pb = spinner("decoding");
            let img = load_image(&image)?;
            let source = model_opts.source_or_color(model.as_deref(), grid, &pb)?;
            let mut params = cut.params(source.default_params());
            let step = match (coarser, finer) {
                (Some(n), _) => Step::Coarser(n),
                (None, Some(n)) => {
                    // Finer regions exist only where the tree was grown: up to the top of the
                    // source's τ range at least.
                    let top = source.kind().defaults().tau_max;
                    params.tau_max = Some(params.tau_max.unwrap_or(params.tau).max(top).max(params.tau));
                    Step::Finer(n)
                }
                (None, None) => Step::At,
            };
            let segmenter = cut.segmenter(source)?;
            pb.set_message("features and recursive NCut");
            let seg = pollster::block_on(segmenter.segment(&img, &params))?;
            pb.set_message("picking the region");
            let compute = segmenter.compute();
            let node = pollster::block_on(compute.pick(&seg, &img, point, params.tau, refine, step))?;
            let selection = pollster::block_on(compute.region_mask(&seg, &img, &[node], params.tau, refine))?;
            let mut outputs = Outputs::default();
            outputs.add(&out, encode_rgba_png(&cutout(&img, &selection, crop)?)?);
            if let Some(p) = mask_path {
                outputs.add(&p, selection.to_png()?);
            }
            outputs.write()?;
            pb.finish_and_clear();
            let n = &seg.tree.nodes[node as usize];
            eprintln!(
                "node {node} (depth {}): {} of {} pixels → {}",
                n.depth,
                selection.count(),
                selection.width() * selection.height(),
                out.display()
            );
        }
        Command::Miou {
            gt,
            pred,
            classes,
            ignore,
            background_merge,
            json,
        } => {
            let protocol = Protocol {
                classes,
                ignore,
                background_merge,
            };
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} images, {eta} left").expect("valid template"),
            );
            let report = evaluate_dirs_with(&gt, &pred, &protocol, |done, total| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            })?;
            bar.finish_and_clear();
            println!("{}", report.summary());
            if let Some(f) = json {
                let text = serde_json::to_string_pretty(&report.to_json()).map_err(|e| Error::Eval(e.to_string()))?;
                files::write(&f, text.as_bytes())?;
            }
        }
        Command::Eval(args) => {
            let json = args.json.clone();
            let cfg = args.config()?;
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} images, {elapsed} elapsed, {eta} left {msg}")
                    .expect("valid template"),
            );
            let mut progress = |done: usize, total: usize| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            };
            let (summary, report) = if cfg.open_vocab.is_some() {
                let o = pollster::block_on(open_vocab::run(&cfg, &mut progress))?;
                (o.summary(), o.to_json())
            } else {
                let o = pollster::block_on(runner::run(&cfg, &mut progress))?;
                (o.summary(), o.to_json())
            };
            bar.finish_and_clear();
            println!("{summary}");
            if let Some(f) = json {
                let text = serde_json::to_string_pretty(&report).map_err(|e| Error::Eval(e.to_string()))?;
                files::write(&f, text.as_bytes())?;
            }
        }
        Command::Recut { tree, tau, out } => {
            let bytes = files::read(&tree)?;
            let t = SegmentTree::from_json(&bytes).map_err(|e| match e {
                Error::Tree(m) => Error::Tree(format!("{}: {m}", tree.display())),
                other => other,
            })?;
            let (labels, k) = t.labels_at(tau)?;
            files::write(&out, &labels_npy(t.grid, &labels))?;
            eprintln!("{k} segments → {}", out.display());
        }
    }
    Ok(())
}

/// `diffcut eval`'s arguments.
#[derive(clap::Args)]
struct EvalArgs {
    /// The benchmark.
    #[arg(long, value_enum)]
    dataset: DatasetKind,
    /// The dataset folder (e.g. the one holding VOCdevkit/, ADEChallengeData2016/,
    /// leftImg8bit/ + gtFine/, or images/val2017 + annotations/val2017 for COCO).
    #[arg(long)]
    root: PathBuf,
    /// Features: `color` (weight-free) or `diffusion` (needs --model; implied by it).
    #[arg(long, value_enum, default_value_t = FeatureKind::Color)]
    features: FeatureKind,
    /// Diffusion features from this converted model folder (models/convert.py): the paper's
    /// setting with SSD-1B. Features are cached per image in --cache, so a run resumes.
    #[arg(long)]
    model: Option<PathBuf>,
    /// With --model: input size, noise, device.
    #[command(flatten)]
    model_opts: ModelOpts,
    /// Where the NCut and PAMR run: `cpu` or `gpu` (our WGSL kernels through wgpu).
    #[arg(long, value_enum, default_value_t = Device::Cpu)]
    device: Device,
    /// Evaluate only the first N images.
    #[arg(long)]
    limit: Option<usize>,
    /// Folder for per-image predictions (PNG: 128×128 segments, or 1024×1024 class maps with
    /// --open-vocab) and diffusion features; a rerun reuses them.
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Write the report (mIoU, pixel accuracy, per-class IoU, counts, settings) as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// NCut threshold τ. Default: the features' own (0.5 for diffusion, the paper's; 0.5 for colour).
    #[arg(long)]
    tau: Option<f64>,
    /// Affinity exponent α. Default: the features' own (10 for both, the paper's for diffusion).
    #[arg(long)]
    alpha: Option<f32>,
    /// Feature grid side.
    #[arg(long, default_value_t = 32)]
    grid: usize,
    /// `eval` = PAMR with the evaluation preset at 128×128 (the default), `open-vocab` = the
    /// open-vocabulary preset at 1024×1024 (the default with --open-vocab), `none` = assignment only.
    #[arg(long, value_enum)]
    refine: Option<Refine>,
    /// Score with the open-vocabulary protocol (docs/ALGORITHM.md §7.6) instead: every segment
    /// named by CLIP with the benchmark's label set, torchmetrics' Jaccard index per image,
    /// averaged over images. For voc (voc20), context and coco-object.
    #[arg(long, requires = "clip")]
    open_vocab: bool,
    /// With --open-vocab: a folder made by models/convert_clip.py (its image part is enough).
    #[arg(long, requires = "open_vocab")]
    clip: Option<PathBuf>,
    /// With --open-vocab: CLIP's input size. Default: the protocol's, 1024 (2048 for coco-object).
    #[arg(long, requires = "open_vocab")]
    clip_size: Option<u32>,
    /// Raw value → class map (`RAW CLASS` lines or a JSON object): required for coco-stuff
    /// (fine → coarse 27), optional for coco-object and cityscapes.
    #[arg(long)]
    class_map: Option<PathBuf>,
    /// Image list (one name per line): required for the COCO benchmarks (the 2175-image
    /// subset), optional elsewhere (replaces the split list).
    #[arg(long)]
    image_list: Option<PathBuf>,
}

impl EvalArgs {
    fn config(self) -> Result<EvalConfig> {
        if self.features == FeatureKind::Diffusion && self.model.is_none() {
            return Err(Error::InvalidParameter {
                name: "features",
                expected: "`color`, or diffusion features with --model DIR",
                got: "diffusion without --model".into(),
            });
        }
        Ok(EvalConfig {
            dataset: self.dataset,
            root: self.root,
            options: DatasetOptions {
                class_map: self.class_map,
                image_list: self.image_list,
            },
            model: self.model,
            size: self.model_opts.size,
            noise: self.model_opts.noise,
            model_device: self.model_opts.model_device,
            device: self.device,
            limit: self.limit,
            cache: self.cache,
            tau: self.tau,
            alpha: self.alpha,
            grid: self.grid,
            refine: self.refine.unwrap_or(if self.open_vocab {
                Refine::OpenVocab
            } else {
                Refine::Eval
            }),
            open_vocab: self.clip.map(|clip| OpenVocabConfig {
                clip,
                clip_size: self.clip_size,
                clip_device: self.model_opts.model_device,
            }),
        })
    }
}

fn main() -> ExitCode {
    diffcut::model::keep_freed_memory();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
