//! Benchmark readers (docs/ALGORITHM.md §6.1) on tiny synthetic datasets laid out as on disk, and the
//! `diffcut eval` command end to end.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use diffcut::eval::datasets::{Dataset, DatasetKind, DatasetOptions, IGNORE};
use image::{GrayImage, Luma, Rgb, RgbImage};

#[path = "common/exif.rs"]
mod exif;

const W: u32 = 40;
const H: u32 = 30;

fn mkdirs(p: &Path) -> PathBuf {
    std::fs::create_dir_all(p).unwrap();
    p.to_path_buf()
}

/// A two-region photo: a red square on a blue-green background, with a little texture.
fn photo(seed: u32) -> RgbImage {
    RgbImage::from_fn(W, H, |x, y| {
        let n = ((x * 7 + y * 13 + seed) % 9) as u8;
        if x < W / 2 && y > 5 {
            Rgb([200 + n, 30 + n, 20])
        } else {
            Rgb([20, 90 + n, 160 + n])
        }
    })
}

/// A grey label map: `inside` on the photo's red square, `outside` elsewhere, and the first
/// column set to `edge`.
fn labels(inside: u8, outside: u8, edge: u8) -> GrayImage {
    GrayImage::from_fn(W, H, |x, y| {
        if x == 0 {
            Luma([edge])
        } else if x < W / 2 && y > 5 {
            Luma([inside])
        } else {
            Luma([outside])
        }
    })
}

/// The value at (x, y) of a loaded ground truth.
fn at(gt: &(u32, u32, Vec<u16>), x: u32, y: u32) -> u16 {
    gt.2[(y * gt.0 + x) as usize]
}

fn voc(root: &Path, names: &[&str]) -> PathBuf {
    let base = root.join("VOCdevkit/VOC2012");
    let jpeg = mkdirs(&base.join("JPEGImages"));
    let seg = mkdirs(&base.join("SegmentationClass"));
    let sets = mkdirs(&base.join("ImageSets/Segmentation"));
    for (i, n) in names.iter().enumerate() {
        photo(i as u32).save(jpeg.join(format!("{n}.jpg"))).unwrap();
        labels(1, 0, 255).save(seg.join(format!("{n}.png"))).unwrap();
    }
    std::fs::write(sets.join("val.txt"), format!("# split\n{}\n\n", names.join("\n"))).unwrap();
    base
}

#[test]
fn voc_reader_maps_classes_and_palette_colours() {
    let t = tempfile::tempdir().unwrap();
    let base = voc(t.path(), &["2007_000033", "2007_000042"]);
    // The second annotation as a colour PNG in the VOC palette (the official files are palette
    // PNGs, which decode to these colours): class 15 (person) = (192, 128, 128), void = (224, 224, 192).
    RgbImage::from_fn(W, H, |x, _| {
        if x == 0 {
            Rgb([224, 224, 192])
        } else if x < 10 {
            Rgb([192, 128, 128])
        } else {
            Rgb([0, 0, 0])
        }
    })
    .save(base.join("SegmentationClass/2007_000042.png"))
    .unwrap();
    let ds = Dataset::open(DatasetKind::Voc, t.path(), &DatasetOptions::default()).unwrap();
    let names: Vec<&str> = ds.samples.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["2007_000033", "2007_000042"]);
    assert_eq!(ds.samples[0].image, base.join("JPEGImages/2007_000033.jpg"));
    let p = ds.protocol();
    assert_eq!((p.classes, p.background_merge), (21, true));
    let g = ds.load_gt(&ds.samples[0]).unwrap();
    assert_eq!((g.0, g.1), (W, H));
    // aeroplane 1 → 0; background 0 and void 255 → the background class 20 (docs/ALGORITHM.md §6.1).
    assert_eq!((at(&g, 5, 20), at(&g, 30, 2), at(&g, 0, 20)), (0, 20, 20));
    let g = ds.load_gt(&ds.samples[1]).unwrap();
    assert_eq!((at(&g, 5, 5), at(&g, 20, 5), at(&g, 0, 5)), (14, 20, 20));
    // Also found from the VOC2012 folder itself.
    assert_eq!(
        Dataset::open(DatasetKind::Voc, &base, &DatasetOptions::default())
            .unwrap()
            .samples
            .len(),
        2
    );
}

#[test]
fn context_reader_both_layouts() {
    let t = tempfile::tempdir().unwrap();
    let base = t.path().join("VOCdevkit/VOC2010");
    let jpeg = mkdirs(&base.join("JPEGImages"));
    let ann = mkdirs(&base.join("annotations_ctx59/val"));
    for n in ["2008_000002", "2008_000008"] {
        photo(1).save(jpeg.join(format!("{n}.jpg"))).unwrap();
        labels(58, 255, 0).save(ann.join(format!("{n}.png"))).unwrap();
    }
    let ds = Dataset::open(DatasetKind::Context, t.path(), &DatasetOptions::default()).unwrap();
    assert_eq!(
        ds.samples.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["2008_000002", "2008_000008"]
    );
    assert_eq!((ds.protocol().classes, ds.protocol().background_merge), (60, true));
    let g = ds.load_gt(&ds.samples[0]).unwrap();
    // prepared 0..58 are classes, 255 is the background → 59.
    assert_eq!((at(&g, 5, 20), at(&g, 30, 2), at(&g, 0, 2)), (58, 59, 0));

    // mmsegmentation layout: 0 = background, 1..59 → 0..58.
    let t2 = tempfile::tempdir().unwrap();
    let base = t2.path().join("VOC2010");
    let jpeg = mkdirs(&base.join("JPEGImages"));
    let ann = mkdirs(&base.join("SegmentationClassContext"));
    let sets = mkdirs(&base.join("ImageSets/SegmentationContext"));
    photo(2).save(jpeg.join("a.jpg")).unwrap();
    labels(59, 0, 1).save(ann.join("a.png")).unwrap();
    std::fs::write(sets.join("val.txt"), "a\n").unwrap();
    let ds = Dataset::open(DatasetKind::Context, t2.path(), &DatasetOptions::default()).unwrap();
    let g = ds.load_gt(&ds.samples[0]).unwrap();
    assert_eq!((at(&g, 5, 20), at(&g, 30, 2), at(&g, 0, 2)), (58, 59, 0));
}

fn coco(root: &Path) -> PathBuf {
    let img = mkdirs(&root.join("images/val2017"));
    let ann = mkdirs(&root.join("annotations/val2017"));
    for (i, n) in ["000000000139", "000000000285", "000000000632"].iter().enumerate() {
        photo(i as u32).save(img.join(format!("{n}.jpg"))).unwrap();
        // person (id 1 → value 0) on a "wall" stuff region (value 171), unlabeled edge.
        labels(0, 171, 255).save(ann.join(format!("{n}.png"))).unwrap();
    }
    let list = root.join("Coco164kFull_Stuff_Coarse_7.txt");
    std::fs::write(&list, "000000000139.jpg\n000000000632\n").unwrap();
    list
}

#[test]
fn coco_object_and_stuff_readers() {
    let t = tempfile::tempdir().unwrap();
    let list = coco(t.path());
    // Both need the image list.
    let err = Dataset::open(DatasetKind::CocoObject, t.path(), &DatasetOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("--image-list"), "{err}");

    let opts = DatasetOptions {
        image_list: Some(list.clone()),
        class_map: None,
    };
    let ds = Dataset::open(DatasetKind::CocoObject, t.path(), &opts).unwrap();
    assert_eq!(
        ds.samples.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["000000000139", "000000000632"]
    );
    assert_eq!((ds.protocol().classes, ds.protocol().background_merge), (81, true));
    let g = ds.load_gt(&ds.samples[0]).unwrap();
    // person → 0; stuff and unlabeled → the background class 80.
    assert_eq!((at(&g, 5, 20), at(&g, 30, 2), at(&g, 0, 2)), (0, 80, 80));

    // COCO-Stuff-27 refuses to guess the fine → coarse map.
    let err = Dataset::open(DatasetKind::CocoStuff, t.path(), &opts)
        .unwrap_err()
        .to_string();
    assert!(err.contains("--class-map"), "{err}");
    let map = t.path().join("fine_to_coarse.txt");
    std::fs::write(&map, "# fine coarse\n0 12\n171, 26\n").unwrap();
    let opts = DatasetOptions {
        image_list: Some(list),
        class_map: Some(map),
    };
    let ds = Dataset::open(DatasetKind::CocoStuff, t.path(), &opts).unwrap();
    assert_eq!(
        (
            ds.protocol().classes,
            ds.protocol().background_merge,
            ds.protocol().ignore
        ),
        (27, false, Some(IGNORE))
    );
    let g = ds.load_gt(&ds.samples[1]).unwrap();
    assert_eq!((at(&g, 5, 20), at(&g, 30, 2), at(&g, 0, 2)), (12, 26, IGNORE));
}

#[test]
fn cityscapes_reader_uses_label_ids() {
    let t = tempfile::tempdir().unwrap();
    let img = mkdirs(&t.path().join("leftImg8bit/val/frankfurt"));
    let gt = mkdirs(&t.path().join("gtFine/val/frankfurt"));
    let img2 = mkdirs(&t.path().join("leftImg8bit/val/lindau"));
    let gt2 = mkdirs(&t.path().join("gtFine/val/lindau"));
    photo(0)
        .save(img.join("frankfurt_000000_000294_leftImg8bit.png"))
        .unwrap();
    labels(26, 7, 0)
        .save(gt.join("frankfurt_000000_000294_gtFine_labelIds.png"))
        .unwrap();
    photo(1)
        .save(img2.join("lindau_000000_000019_leftImg8bit.png"))
        .unwrap();
    labels(33, 23, 3)
        .save(gt2.join("lindau_000000_000019_gtFine_labelIds.png"))
        .unwrap();
    let ds = Dataset::open(DatasetKind::Cityscapes, t.path(), &DatasetOptions::default()).unwrap();
    assert_eq!(
        ds.samples.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["frankfurt_000000_000294", "lindau_000000_000019"]
    );
    assert_eq!((ds.protocol().classes, ds.protocol().background_merge), (27, false));
    let g = ds.load_gt(&ds.samples[0]).unwrap();
    // car 26 → 19, road 7 → 0, unlabeled 0 → ignore.
    assert_eq!((at(&g, 5, 20), at(&g, 30, 2), at(&g, 0, 2)), (19, 0, IGNORE));
    let g = ds.load_gt(&ds.samples[1]).unwrap();
    // bicycle 33 → 26, sky 23 → 16, out-of-roi 3 → ignore.
    assert_eq!((at(&g, 5, 20), at(&g, 30, 2), at(&g, 0, 2)), (26, 16, IGNORE));
}

#[test]
fn ade20k_reader_shifts_classes_and_ignores_zero() {
    let t = tempfile::tempdir().unwrap();
    let base = t.path().join("ADEChallengeData2016");
    let img = mkdirs(&base.join("images/validation"));
    let ann = mkdirs(&base.join("annotations/validation"));
    for n in ["ADE_val_00000001", "ADE_val_00000002"] {
        photo(3).save(img.join(format!("{n}.jpg"))).unwrap();
        labels(150, 1, 0).save(ann.join(format!("{n}.png"))).unwrap();
    }
    let ds = Dataset::open(DatasetKind::Ade20k, t.path(), &DatasetOptions::default()).unwrap();
    assert_eq!(
        ds.samples.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["ADE_val_00000001", "ADE_val_00000002"]
    );
    assert_eq!((ds.protocol().classes, ds.protocol().background_merge), (150, false));
    let g = ds.load_gt(&ds.samples[1]).unwrap();
    assert_eq!((at(&g, 5, 20), at(&g, 30, 2), at(&g, 0, 2)), (149, 0, IGNORE));
}

#[test]
fn missing_folders_and_files_are_named() {
    let t = tempfile::tempdir().unwrap();
    let err = Dataset::open(DatasetKind::Ade20k, t.path(), &DatasetOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("images/validation"), "{err}");
    let err = Dataset::open(DatasetKind::Cityscapes, t.path(), &DatasetOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("leftImg8bit"), "{err}");
    let base = voc(t.path(), &["x1"]);
    std::fs::remove_file(base.join("ImageSets/Segmentation/val.txt")).unwrap();
    let err = Dataset::open(DatasetKind::Voc, t.path(), &DatasetOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("val.txt"), "{err}");
}

fn diffcut(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_diffcut"))
        .args(args)
        .output()
        .expect("run diffcut")
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn cli_eval_end_to_end_with_cache_resume() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("data");
    voc(&root, &["2007_000001", "2007_000002", "2007_000003"]);
    let cache = t.path().join("cache");
    let out = t.path().join("voc.json");
    let args = [
        "eval",
        "--dataset",
        "voc",
        "--root",
        root.to_str().unwrap(),
        "--cache",
        cache.to_str().unwrap(),
        "--json",
        out.to_str().unwrap(),
        "--grid",
        "8",
        "--limit",
        "2",
    ];
    let o = diffcut(&args);
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{}\n{stdout}", String::from_utf8_lossy(&o.stderr));
    assert!(
        stdout.contains("| VOC (20+bg) |") && stdout.contains("65.2"),
        "{stdout}"
    );
    assert!(stdout.contains("not comparable"), "{stdout}");
    assert!(stdout.contains("2 computed, 0 from cache"), "{stdout}");
    let j = json(&out);
    let miou = j["miou"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&miou), "{j}");
    assert_eq!(
        (j["images"].as_u64(), j["computed"].as_u64(), j["cached"].as_u64()),
        (Some(2), Some(2), Some(0))
    );
    assert_eq!(j["dataset"], "voc");
    assert_eq!(j["features"], "color");

    // Rerun: every prediction comes from the cache, and the score is the same.
    let o = diffcut(&args);
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("0 computed, 2 from cache"), "{stdout}");
    let j2 = json(&out);
    assert_eq!((j2["computed"].as_u64(), j2["cached"].as_u64()), (Some(0), Some(2)));
    assert_eq!(j2["miou"], j["miou"]);
    assert_eq!(j2["pixel_accuracy"], j["pixel_accuracy"]);

    // Without PAMR, all three images, no cache.
    let o = diffcut(&[
        "eval",
        "--dataset",
        "voc",
        "--root",
        root.to_str().unwrap(),
        "--grid",
        "8",
        "--refine",
        "none",
        "--json",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j = json(&out);
    assert_eq!(j["images"].as_u64(), Some(3));
    assert!((0.0..=1.0).contains(&j["miou"].as_f64().unwrap()));
}

/// Dataset images are read as stored, as the official code reads them: their ground truth is
/// drawn on the stored pixels. A camera's EXIF rotation (here 90°, which swaps the sides) used to
/// turn the image before scoring.
#[test]
fn cli_eval_ignores_exif_orientation() {
    let t = tempfile::tempdir().unwrap();
    let names = ["2007_000001", "2007_000002"];
    let miou = |rotate: bool| {
        let root = t.path().join(if rotate { "rotated" } else { "plain" });
        let base = voc(&root, &names);
        if rotate {
            for n in names {
                let f = base.join(format!("JPEGImages/{n}.jpg"));
                let tagged = exif::with_orientation(&std::fs::read(&f).unwrap(), 6);
                std::fs::write(&f, tagged).unwrap();
            }
        }
        let out = root.join("report.json");
        let o = diffcut(&[
            "eval",
            "--dataset",
            "voc",
            "--root",
            root.to_str().unwrap(),
            "--grid",
            "8",
            "--json",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        json(&out)["miou"].as_f64().unwrap()
    };
    assert_eq!(miou(true), miou(false));
}

#[test]
fn cli_eval_missing_annotation_names_the_file() {
    let t = tempfile::tempdir().unwrap();
    let base = voc(t.path(), &["2007_000001", "2007_000002"]);
    let gone = base.join("SegmentationClass/2007_000002.png");
    std::fs::remove_file(&gone).unwrap();
    let o = diffcut(&[
        "eval",
        "--dataset",
        "voc",
        "--root",
        t.path().to_str().unwrap(),
        "--grid",
        "8",
        "--refine",
        "none",
    ]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains(gone.to_str().unwrap()), "{err}");

    // Unknown dataset and features are refused clearly.
    let o = diffcut(&["eval", "--dataset", "pascal", "--root", t.path().to_str().unwrap()]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("dataset"));
    let o = diffcut(&[
        "eval",
        "--dataset",
        "voc",
        "--root",
        t.path().to_str().unwrap(),
        "--features",
        "ssd1b",
    ]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("features"));
}

#[test]
fn cli_eval_with_a_model_caches_features_and_resumes() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("data");
    voc(&root, &["2007_000001", "2007_000002"]);
    let cache = t.path().join("cache");
    let out = t.path().join("voc.json");
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/model/ssd-tiny/q8");
    let args = [
        "eval",
        "--dataset",
        "voc",
        "--root",
        root.to_str().unwrap(),
        "--cache",
        cache.to_str().unwrap(),
        "--json",
        out.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--size",
        "128",
        "--noise",
        "zero",
        "--tau",
        "1.5",
    ];
    let o = diffcut(&args);
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{}\n{stdout}", String::from_utf8_lossy(&o.stderr));
    assert!(
        stdout.contains("diffusion features of") && !stdout.contains("not comparable"),
        "{stdout}"
    );
    let j = json(&out);
    assert_eq!(j["features"], "diffusion");
    assert!((0.0..=1.0).contains(&j["miou"].as_f64().unwrap()), "{j}");
    // One feature file per image, [4, 4, 64] for this model at 128 px.
    let feature_files: Vec<PathBuf> = walk(&cache)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "npy"))
        .collect();
    assert_eq!(feature_files.len(), 2, "{feature_files:?}");
    let (shape, _) = diffcut::npy::read_f32(&std::fs::read(&feature_files[0]).unwrap(), 3).unwrap();
    assert_eq!(shape, vec![4, 4, 64]);
    // Resume: the predictions come from the cache, same score.
    let o = diffcut(&args);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("0 computed, 2 from cache"));
    assert_eq!(json(&out)["miou"], j["miou"]);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The evaluation opened as a job and scored in two shards (as the Ray script's workers do),
/// merged, gives exactly `diffcut eval`'s numbers; an index past the set is refused by name.
#[test]
fn an_eval_job_scored_in_shards_and_merged_equals_the_run() {
    use diffcut::eval::runner::{self, EvalConfig, EvalJob, Scored};
    use diffcut::segmenter::{Device, NoiseChoice, Refine};

    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("data");
    voc(&root, &["2007_000001", "2007_000002", "2007_000003"]);
    let cfg = EvalConfig {
        dataset: DatasetKind::Voc,
        root,
        options: DatasetOptions::default(),
        model: None,
        size: 1024,
        noise: NoiseChoice::Seed42,
        model_device: Device::Cpu,
        device: Device::Cpu,
        limit: None,
        cache: Some(t.path().join("cache")),
        tau: None,
        alpha: None,
        grid: 8,
        refine: Refine::Eval,
        open_vocab: None,
    };
    let whole = pollster::block_on(runner::run(&cfg, &mut |_, _| {})).unwrap();
    assert_eq!((whole.computed, whole.cached), (3, 0));

    let job = pollster::block_on(EvalJob::open(&cfg)).unwrap();
    assert_eq!(job.len(), 3);
    assert_eq!(
        job.names().collect::<Vec<_>>(),
        ["2007_000001", "2007_000002", "2007_000003"]
    );
    let mut shards = [job.accumulator(), job.accumulator()];
    for i in [2, 0, 1] {
        let scored = pollster::block_on(job.score(i, &mut shards[i % 2])).unwrap();
        assert_eq!(scored, Scored::Cached, "the run cached image {i}");
    }
    let mut merged = job.accumulator();
    for s in &shards {
        merged.merge(&s.finish()).unwrap();
    }
    let outcome = job.outcome(&merged, 0, 3);
    assert_eq!(outcome.report, whole.report);
    assert_eq!(outcome.to_json()["miou"], whole.to_json()["miou"]);

    let e = pollster::block_on(job.score(3, &mut merged)).unwrap_err().to_string();
    assert!(e.contains("index") && e.contains("3 images"), "{e}");
}

/// `diffcut eval --open-vocab`: every segment named by the (tiny, random-weight) CLIP fixture with
/// VOC's label set, scored per image at 1024×1024. The number printed is the mean of the per-image
/// Jaccard index (the function `tests/open_vocab.rs` checks against torchmetrics) over the cached
/// class maps and the ground truth as the protocol reads it.
#[test]
fn cli_eval_open_vocab_names_segments_and_scores_per_image() {
    use diffcut::eval::datasets::eval_gt_1024;
    use diffcut::eval::miou::load_label_png;
    use diffcut::eval::open_vocab::{image_jaccard, label_set_order};

    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("data");
    let names = ["2007_000001", "2007_000002"];
    voc(&root, &names);
    let clip = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/clip/tiny-f32");
    let cache = t.path().join("cache");
    let out = t.path().join("ov.json");
    let args = [
        "eval",
        "--open-vocab",
        "--clip",
        clip.to_str().unwrap(),
        "--dataset",
        "voc20",
        "--root",
        root.to_str().unwrap(),
        "--grid",
        "8",
        "--cache",
        cache.to_str().unwrap(),
        "--json",
        out.to_str().unwrap(),
    ];
    let o = diffcut(&args);
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{}\n{stdout}", String::from_utf8_lossy(&o.stderr));
    assert!(
        stdout.contains("| VOC (20+bg) |") && stdout.contains("63.0"),
        "{stdout}"
    );
    assert!(stdout.contains("2 computed, 0 from cache"), "{stdout}");
    let j = json(&out);
    assert_eq!(j["protocol"], "open-vocab");
    assert_eq!(j["refine"], "open-vocab");
    assert_eq!(j["clip_size"].as_u64(), Some(1024));
    assert_eq!(j["images"].as_u64(), Some(2));
    assert_eq!(j["per_class_iou"].as_array().unwrap().len(), 21);

    // The cached class maps: 1024², VOC's label indices; their mean per-image score is the report's.
    let dataset = Dataset::open(DatasetKind::Voc, &root, &DatasetOptions::default()).unwrap();
    let maps: Vec<PathBuf> = walk(&cache)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    assert_eq!(maps.len(), 2, "{maps:?}");
    let mut sum = 0.0;
    for s in &dataset.samples {
        let map = maps.iter().find(|p| p.file_stem().unwrap() == s.name.as_str()).unwrap();
        let (w, h, pred) = load_label_png(map).unwrap();
        assert_eq!((w, h), (1024, 1024));
        assert!(pred.iter().all(|&c| c < 21));
        let (gw, gh, raw) = dataset.load_gt(s).unwrap();
        let gt = label_set_order(&eval_gt_1024(&raw, gw, gh), 21);
        // The photo's red square is class 1 (aeroplane), the rest background (0).
        assert!(gt.contains(&1) && gt.contains(&0) && gt.iter().all(|&c| c < 2));
        sum += image_jaccard(&gt, &pred, 21).unwrap();
    }
    let mean = j["mean_image_jaccard"].as_f64().unwrap();
    assert!((mean - sum / 2.0).abs() < 1e-12, "{mean} vs {}", sum / 2.0);

    // Rerun: from the cache, same number.
    let o = diffcut(&args);
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("0 computed, 2 from cache"), "{stdout}");
    assert_eq!(json(&out)["mean_image_jaccard"], j["mean_image_jaccard"]);

    // Benchmarks without a label set of the protocol, and --open-vocab without CLIP, are refused.
    let ade = t.path().join("ade");
    mkdirs(&ade);
    let o = diffcut(&[
        "eval",
        "--open-vocab",
        "--clip",
        clip.to_str().unwrap(),
        "--dataset",
        "ade20k",
        "--root",
        ade.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("voc, context or coco-object"),
        "{err}"
    );
    let o = diffcut(&[
        "eval",
        "--open-vocab",
        "--dataset",
        "voc",
        "--root",
        root.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("--clip"), "{err}");
}
