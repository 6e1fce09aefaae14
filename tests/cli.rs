//! The `diffcut` command line: its file interface and its answers to bad input. Each bad input
//! must end with a clear one-line error and a non-zero exit status, never a panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use diffcut::npy;

fn diffcut(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_diffcut"))
        .args(args)
        .output()
        .expect("run diffcut")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Fails with a message containing `needle`, without panicking.
fn fails_with(o: &Output, needle: &str) {
    let err = stderr(o);
    assert!(!o.status.success(), "expected failure, got success: {err}");
    assert!(!err.contains("panicked"), "panicked: {err}");
    assert!(
        err.to_lowercase().contains(&needle.to_lowercase()),
        "expected '{needle}' in: {err}"
    );
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn field(h: usize, w: usize, c: usize) -> Vec<f32> {
    diffcut::synth::smooth_field(h, w, c, 2.0, 3).data
}

#[test]
fn ncut_writes_int32_labels_and_a_tree_that_recuts() {
    let d = tmp();
    let f = write(d.path(), "f.npy", &npy::encode_f32(&[12, 10, 16], &field(12, 10, 16)));
    let (out, tree) = (d.path().join("l.npy"), d.path().join("t.json"));
    let o = diffcut(&[
        "ncut",
        s(&f),
        "--tau",
        "0.5",
        "--alpha",
        "10",
        "--out",
        s(&out),
        "--tree",
        s(&tree),
        "--tau-max",
        "1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = std::fs::read(&out).unwrap();
    assert!(String::from_utf8_lossy(&bytes[..80]).contains("'descr': '<i4'"));
    let (shape, labels) = npy::read_labels(&bytes, 2).unwrap();
    assert_eq!(shape, vec![12, 10]);
    let k = *labels.iter().max().unwrap() + 1;
    assert!(labels.iter().all(|&l| (0..k).contains(&l)));
    assert!(stderr(&o).contains(&format!("{k} segments")));
    // The tree re-cuts at another τ without features; at the same τ it gives the same labels.
    let out2 = d.path().join("l2.npy");
    let o = diffcut(&["recut", s(&tree), "--tau", "0.5", "--out", s(&out2)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(&out2).unwrap(), bytes);
    let o = diffcut(&["recut", s(&tree), "--tau", "0.9", "--out", s(&out2)]);
    assert!(o.status.success(), "{}", stderr(&o));
    fails_with(
        &diffcut(&["recut", s(&tree), "--tau", "1.5", "--out", s(&out2)]),
        "tau_max",
    );
    let bad = write(d.path(), "bad.json", b"{\"grid\": [2, 2]}");
    fails_with(
        &diffcut(&["recut", s(&bad), "--tau", "0.5", "--out", s(&out2)]),
        "invalid segment tree",
    );
}

#[test]
fn ncut_autosc_writes_the_official_autosc_labels() {
    // The official code's own labels for this grid (tests/fixtures/autosc, made by
    // tests/reference/make_autosc_fixtures.py): the CLI writes them as they are, cluster indices
    // included, not only the same partition.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let f = root.join("tests/fixtures/autosc/photo_astronaut_32x32x48.features.npy");
    let want = npy::read_labels(
        &std::fs::read(root.join("tests/fixtures/autosc/photo_astronaut.labels.npy")).unwrap(),
        2,
    )
    .unwrap();
    let d = tmp();
    let out = d.path().join("l.npy");
    let o = diffcut(&["ncut", s(&f), "--method", "autosc", "--out", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("3 segments (AutoSC: 3 clusters from the eigengap at α = 10)"),
        "{}",
        stderr(&o)
    );
    let got = npy::read_labels(&std::fs::read(&out).unwrap(), 2).unwrap();
    assert_eq!(got.0, [32, 32]);
    let agree = got.1.iter().zip(&want.1).filter(|(a, b)| a == b).count();
    assert!(
        agree as f64 >= 0.99 * 1024.0,
        "{agree} / 1024 cells keep the official cluster index"
    );
}

#[test]
fn ncut_autosc_refuses_the_recursive_options() {
    let d = tmp();
    let f = write(d.path(), "f.npy", &npy::encode_f32(&[8, 8, 4], &field(8, 8, 4)));
    let out = d.path().join("l.npy");
    for extra in [
        &["--tau", "0.3"][..],
        &["--alpha", "5"],
        &["--tree", "t.json"],
        &["--device", "gpu"],
    ] {
        let mut args = vec!["ncut", s(&f), "--method", "autosc", "--out", s(&out)];
        args.extend_from_slice(extra);
        fails_with(&diffcut(&args), &format!("got autosc with {}", extra[0]));
        assert!(!out.exists(), "nothing written");
    }
    let big = write(d.path(), "big.npy", &npy::encode_f32(&[65, 64, 1], &vec![1.0; 65 * 64]));
    fails_with(
        &diffcut(&["ncut", s(&big), "--method", "autosc", "--out", s(&out)]),
        "64×64",
    );
    fails_with(
        &diffcut(&["ncut", s(&f), "--method", "spectral", "--out", s(&out)]),
        "autosc",
    );
}

#[test]
fn ncut_rejects_bad_features() {
    let d = tmp();
    let out = d.path().join("l.npy");
    let run = |name: &str, bytes: &[u8]| diffcut(&["ncut", s(&write(d.path(), name, bytes)), "--out", s(&out)]);
    // Wrong dtype: float64.
    let mut f64bytes = npy::encode_f32(&[2, 2, 1], &[0.0; 8]);
    let at = f64bytes.windows(3).position(|w| w == b"<f4").unwrap();
    f64bytes[at..at + 3].copy_from_slice(b"<f8");
    fails_with(&run("f64.npy", &f64bytes), "dtype is <f8");
    // Wrong rank.
    fails_with(&run("r2.npy", &npy::encode_f32(&[4, 4], &[1.0; 16])), "rank 2");
    // NaN and infinity, located.
    let mut v = field(3, 3, 4);
    v[4 * 4 + 2] = f32::NAN;
    fails_with(
        &run("nan.npy", &npy::encode_f32(&[3, 3, 4], &v)),
        "at [1, 1, 2] is not finite",
    );
    v[4 * 4 + 2] = f32::INFINITY;
    fails_with(&run("inf.npy", &npy::encode_f32(&[3, 3, 4], &v)), "not finite");
    // Zero-sized, truncated, not an npy, missing.
    fails_with(&run("zero.npy", &npy::encode_f32(&[0, 3, 4], &[])), "zero dimension");
    let full = npy::encode_f32(&[3, 3, 4], &field(3, 3, 4));
    fails_with(&run("trunc.npy", &full[..full.len() - 3]), "truncated");
    fails_with(&run("text.npy", b"hello"), "not a .npy file");
    // 256 KB asking for 65 536 cells: the dense affinity would need 16 GiB. Refused up front
    // (it used to abort the process).
    fails_with(
        &run("big.npy", &npy::encode_f32(&[256, 256, 1], &field(256, 256, 1))),
        "cell count is 65536; the limit is 16384",
    );
    fails_with(
        &diffcut(&["ncut", "/nonexistent/f.npy", "--out", s(&out)]),
        "/nonexistent/f.npy",
    );
    assert!(!out.exists(), "nothing is written on error");
}

#[test]
fn ncut_rejects_parameters_out_of_range() {
    let d = tmp();
    let f = write(d.path(), "f.npy", &npy::encode_f32(&[4, 4, 3], &field(4, 4, 3)));
    let out = d.path().join("l.npy");
    for tau in ["0", "-0.5", "2.5", "NaN", "inf"] {
        fails_with(
            &diffcut(&["ncut", s(&f), &format!("--tau={tau}"), "--out", s(&out)]),
            "tau must be in (0, 2]",
        );
    }
    for alpha in ["0", "-1", "NaN", "inf"] {
        fails_with(
            &diffcut(&["ncut", s(&f), &format!("--alpha={alpha}"), "--out", s(&out)]),
            "alpha must be",
        );
    }
    fails_with(
        &diffcut(&["ncut", s(&f), "--tau", "abc", "--out", s(&out)]),
        "invalid value",
    );
    // τ = 2 is the top of the range and valid.
    assert!(diffcut(&["ncut", s(&f), "--tau", "2", "--out", s(&out)])
        .status
        .success());
}

#[test]
fn ncut_handles_trivial_grids() {
    let d = tmp();
    let out = d.path().join("l.npy");
    // 1×1 grid and constant features: one segment each.
    for (name, shape, data) in [
        ("one.npy", [1, 1, 5], vec![1.0f32; 5]),
        ("const.npy", [4, 4, 2], vec![0.5f32; 32]),
    ] {
        let f = write(d.path(), name, &npy::encode_f32(&shape, &data));
        let o = diffcut(&["ncut", s(&f), "--out", s(&out)]);
        assert!(o.status.success(), "{}", stderr(&o));
        let (_, labels) = npy::read_labels(&std::fs::read(&out).unwrap(), 2).unwrap();
        assert!(labels.iter().all(|&l| l == 0), "{name}: {labels:?}");
    }
}

#[test]
fn segment_writes_a_mask_at_the_image_size() {
    let d = tmp();
    // A non-square image: left half red, right half blue.
    let img = image::RgbImage::from_fn(60, 40, |x, _| {
        if x < 30 {
            image::Rgb([220, 30, 30])
        } else {
            image::Rgb([20, 40, 200])
        }
    });
    let p = d.path().join("in.png");
    img.save(&p).unwrap();
    let (mask, ov) = (d.path().join("m.png"), d.path().join("o.png"));
    let o = diffcut(&["segment", s(&p), "--grid", "16", "--out", s(&mask), "--overlay", s(&ov)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let m = image::open(&mask).unwrap();
    assert_eq!((m.width(), m.height()), (60, 40));
    let m = m.to_luma8();
    assert_ne!(
        m.get_pixel(5, 20),
        m.get_pixel(55, 20),
        "the two halves are different segments"
    );
    assert_eq!(image::open(&ov).unwrap().width(), 60);
    // Without PAMR, and with its evaluation preset: the same two halves.
    for refine in ["none", "eval"] {
        let o = diffcut(&["segment", s(&p), "--grid", "16", "--refine", refine, "--out", s(&mask)]);
        assert!(o.status.success(), "{refine}: {}", stderr(&o));
        let m = image::open(&mask).unwrap().to_luma8();
        assert_ne!(m.get_pixel(5, 20), m.get_pixel(55, 20), "{refine}");
    }
}

#[test]
fn segment_rejects_bad_images_and_parameters() {
    let d = tmp();
    let mask = d.path().join("m.png");
    fails_with(
        &diffcut(&["segment", s(&write(d.path(), "empty.png", b"")), "--out", s(&mask)]),
        "cannot decode image",
    );
    fails_with(
        &diffcut(&[
            "segment",
            s(&write(d.path(), "junk.jpg", b"not an image at all")),
            "--out",
            s(&mask),
        ]),
        "cannot decode image",
    );
    fails_with(
        &diffcut(&["segment", "/nonexistent.png", "--out", s(&mask)]),
        "/nonexistent.png",
    );
    let img = image::RgbImage::from_pixel(8, 8, image::Rgb([1, 2, 3]));
    let p = d.path().join("ok.png");
    img.save(&p).unwrap();
    fails_with(&diffcut(&["segment", s(&p), "--grid", "0", "--out", s(&mask)]), "grid");
    fails_with(
        &diffcut(&["segment", s(&p), "--tau", "3", "--out", s(&mask)]),
        "tau must be in (0, 2]",
    );
    assert!(!mask.exists());
}

#[test]
fn help_teaches_the_parameters() {
    let o = diffcut(&["--help"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("Normalized Cut") && text.contains("ncut") && text.contains("segment"));
    let o = diffcut(&["ncut", "--help"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("--tau") && text.contains("(0, 2]") && text.contains("--alpha"));
}

#[test]
fn miou_scores_a_folder_and_names_a_missing_file() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/miou");
    let d = tmp();
    let json = d.path().join("m.json");
    let o = diffcut(&[
        "miou",
        "--gt",
        s(&fixtures.join("gt")),
        "--pred",
        s(&fixtures.join("pred")),
        "--classes",
        "7",
        "--ignore",
        "255",
        "--json",
        s(&json),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let got: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let want: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixtures.join("expected.json")).unwrap()).unwrap();
    assert!((got["miou"].as_f64().unwrap() - want["miou"].as_f64().unwrap()).abs() < 1e-9);
    // A prediction folder missing one file: the error names it.
    let pred = d.path().join("pred");
    std::fs::create_dir(&pred).unwrap();
    let mut names: Vec<_> = std::fs::read_dir(fixtures.join("pred"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    let missing = names.pop().unwrap();
    for p in &names {
        std::fs::copy(p, pred.join(p.file_name().unwrap())).unwrap();
    }
    let o = diffcut(&[
        "miou",
        "--gt",
        s(&fixtures.join("gt")),
        "--pred",
        s(&pred),
        "--classes",
        "7",
        "--ignore",
        "255",
    ]);
    fails_with(&o, missing.file_name().unwrap().to_str().unwrap());
}

#[test]
fn the_gpu_path_gives_the_cpu_partition() {
    // lavapipe in CI; the WGSL kernels through wgpu.
    let d = tmp();
    let f = write(d.path(), "f.npy", &npy::encode_f32(&[12, 12, 32], &field(12, 12, 32)));
    let (cpu, gpu) = (d.path().join("c.npy"), d.path().join("g.npy"));
    let o = diffcut(&["ncut", s(&f), "--out", s(&cpu), "--mode", "clean"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = diffcut(&["ncut", s(&f), "--out", s(&gpu), "--mode", "clean", "--device", "gpu"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (_, a) = npy::read_labels(&std::fs::read(&cpu).unwrap(), 2).unwrap();
    let (_, b) = npy::read_labels(&std::fs::read(&gpu).unwrap(), 2).unwrap();
    let (a, b): (Vec<u32>, Vec<u32>) = (
        a.iter().map(|&v| v as u32).collect(),
        b.iter().map(|&v| v as u32).collect(),
    );
    assert!(diffcut::eval::partition_agreement(&a, &b).unwrap() >= 0.99);
    // --bench counts the GPU's dispatches and readbacks (and says nothing of them on the CPU).
    let o = diffcut(&["ncut", s(&f), "--out", s(&gpu), "--device", "gpu", "--bench", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let line = stderr(&o)
        .lines()
        .find(|l| l.starts_with("best of 2:"))
        .unwrap_or_default()
        .to_string();
    let count = |word: &str| -> u64 {
        let after = line
            .split(&format!("{word} "))
            .nth(1)
            .unwrap_or_else(|| panic!("no {word} in {line:?}"));
        after
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let (dispatches, readbacks, levels) = (count("dispatches"), count("readbacks"), count("levels"));
    assert!(dispatches > readbacks && readbacks >= levels && levels >= 1, "{line}");
    let o = diffcut(&["ncut", s(&f), "--out", s(&cpu), "--bench", "1"]);
    assert!(
        o.status.success() && !stderr(&o).contains("dispatches"),
        "{}",
        stderr(&o)
    );
    // segment with PAMR on the GPU as well.
    let img = image::RgbImage::from_fn(48, 32, |x, y| {
        if (x / 12 + y / 16) % 2 == 0 {
            image::Rgb([200, 40, 40])
        } else {
            image::Rgb([30, 60, 210])
        }
    });
    let p = d.path().join("in.png");
    img.save(&p).unwrap();
    let mask = d.path().join("m.png");
    let o = diffcut(&[
        "segment",
        s(&p),
        "--grid",
        "16",
        "--device",
        "gpu",
        "--refine",
        "eval",
        "--out",
        s(&mask),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(image::open(&mask).unwrap().width(), 48);
}

fn model_fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/model")
        .join(rel)
}

#[test]
fn features_writes_the_diffusers_features_of_a_converted_model() {
    let d = tmp();
    let out = d.path().join("f.npy");
    let (img, model, noise) = (
        model_fixture("ssd-tiny/image.png"),
        model_fixture("ssd-tiny/q8"),
        model_fixture("ssd-tiny/noise.npy"),
    );
    let o = diffcut(&[
        "features",
        s(&img),
        "--model",
        s(&model),
        "--size",
        "128",
        "--noise",
        s(&noise),
        "--out",
        s(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (shape, got) = npy::read_f32(&std::fs::read(&out).unwrap(), 3).unwrap();
    let (want_shape, want) = npy::read_f32(
        &std::fs::read(model_fixture("ssd-tiny/expected/features_q8.npy")).unwrap(),
        3,
    )
    .unwrap();
    assert_eq!(shape, want_shape);
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let err = got.iter().zip(&want).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(err < 2e-4 * scale, "max |Δ| = {err} (max |f| = {scale})");
    // The features feed `diffcut ncut` as they are.
    let labels = d.path().join("l.npy");
    let o = diffcut(&["ncut", s(&out), "--out", s(&labels)]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn segment_with_a_model_writes_a_mask_at_the_image_size() {
    let d = tmp();
    let mask = d.path().join("m.png");
    let img = model_fixture("ssd-tiny/image.png");
    let o = diffcut(&[
        "segment",
        s(&img),
        "--model",
        s(&model_fixture("ssd-tiny/f16")),
        "--size",
        "128",
        "--noise",
        "zero",
        "--tau",
        "1.5",
        "--out",
        s(&mask),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let m = image::open(&mask).unwrap();
    assert_eq!((m.width(), m.height()), (150, 110));
}

#[test]
fn features_names_what_is_wrong_with_a_model_or_its_options() {
    let d = tmp();
    let out = d.path().join("f.npy");
    let img = model_fixture("ssd-tiny/image.png");
    let model = model_fixture("ssd-tiny/q8");
    fails_with(
        &diffcut(&["features", s(&img), "--model", "/nonexistent-model", "--out", s(&out)]),
        "/nonexistent-model/manifest.json",
    );
    // The default size 1024 has no folded constants in this tiny model.
    fails_with(
        &diffcut(&["features", s(&img), "--model", s(&model), "--out", s(&out)]),
        "sizes [128, 256], not 1024",
    );
    // No official noise is shipped for 128.
    fails_with(
        &diffcut(&[
            "features",
            s(&img),
            "--model",
            s(&model),
            "--size",
            "128",
            "--out",
            s(&out),
        ]),
        "seed-42 noise",
    );
    let bad = write(d.path(), "n.npy", &npy::encode_f32(&[1, 4, 3, 3], &[0.0; 36]));
    fails_with(
        &diffcut(&[
            "features",
            s(&img),
            "--model",
            s(&model),
            "--size",
            "128",
            "--noise",
            s(&bad),
            "--out",
            s(&out),
        ]),
        "[1, 4, 3, 3]",
    );
    let junk = write(d.path(), "junk.png", b"junk");
    fails_with(
        &diffcut(&[
            "features",
            s(&junk),
            "--model",
            s(&model),
            "--size",
            "128",
            "--noise",
            "zero",
            "--out",
            s(&out),
        ]),
        "cannot decode image",
    );
    assert!(!out.exists());
}

/// Outputs are written whole or not at all: when one output of a command cannot be written, the
/// others are not written either, and a file already at an output path keeps its bytes.
#[test]
fn a_failing_output_writes_nothing_and_truncates_nothing() {
    let d = tmp();
    let f = write(d.path(), "f.npy", &npy::encode_f32(&[6, 6, 3], &field(6, 6, 3)));
    let out = write(d.path(), "labels.npy", b"labels from an earlier run");
    let tree = d.path().join("missing-folder").join("tree.json");
    let o = diffcut(&["ncut", s(&f), "--out", s(&out), "--tree", s(&tree)]);
    fails_with(&o, "missing-folder");
    assert_eq!(std::fs::read(&out).unwrap(), b"labels from an earlier run");

    let img = write(d.path(), "photo.png", &{
        let mut png = Vec::new();
        image::RgbImage::from_fn(24, 16, |x, _| image::Rgb([(x * 10) as u8, 40, 90]))
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        png
    });
    let mask = write(d.path(), "mask.png", b"an earlier mask");
    let o = diffcut(&[
        "segment",
        s(&img),
        "--grid",
        "4",
        "--out",
        s(&mask),
        "--overlay",
        s(d.path()),
    ]);
    fails_with(&o, "is a folder");
    assert_eq!(std::fs::read(&mask).unwrap(), b"an earlier mask");
    // No temporary file is left behind.
    let mut names: Vec<String> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["f.npy", "labels.npy", "mask.png", "photo.png"]);

    // The same outputs, writable: both are replaced whole.
    let o = diffcut(&[
        "ncut",
        s(&f),
        "--out",
        s(&out),
        "--tree",
        s(&d.path().join("tree.json")),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(npy::read_labels(&std::fs::read(&out).unwrap(), 2).is_ok());
}

fn scene(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/scenes")
        .join(name)
}

fn read_mask(p: &Path) -> Vec<bool> {
    image::open(p)
        .unwrap()
        .to_luma8()
        .pixels()
        .map(|p| p.0[0] > 127)
        .collect()
}

fn iou(a: &[bool], b: &[bool]) -> f64 {
    let inter = a.iter().zip(b).filter(|(x, y)| **x && **y).count();
    let union = a.iter().zip(b).filter(|(x, y)| **x || **y).count();
    inter as f64 / union.max(1) as f64
}

/// One clear object (tests/reference/make_ball_scene.py: an orange ball on grass against sky, the
/// ground truth the disk it was drawn in): a click on it cuts it out, with the photo's own colours
/// where opaque and transparency elsewhere; coarser regions hold finer ones.
#[test]
fn cutout_lifts_the_ball_off_the_grass() {
    let d = tmp();
    let photo = image::open(scene("ball.png")).unwrap().to_rgb8();
    let truth = read_mask(&scene("ball.gt.png"));
    let run = |extra: &[&str], out: &str, mask: &str| {
        let (out, mask) = (d.path().join(out), d.path().join(mask));
        let mut args: Vec<String> = vec![
            "cutout".into(),
            s(&scene("ball.png")).into(),
            "--point".into(),
            "250,215".into(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        args.extend(["--out".into(), s(&out).to_owned(), "--mask".into(), s(&mask).to_owned()]);
        let o = diffcut(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stderr(&o).contains("pixels →"), "{}", stderr(&o));
        (out, read_mask(&mask))
    };

    let (cut, at) = run(&[], "cut.png", "at.png");
    let rgba = image::open(&cut).unwrap().to_rgba8();
    assert_eq!(rgba.dimensions(), photo.dimensions());
    let alpha: Vec<bool> = rgba.pixels().map(|p| p.0[3] == 255).collect();
    assert!(rgba.pixels().all(|p| p.0[3] == 0 || p.0[3] == 255));
    assert_eq!(alpha, at, "the mask file is the cut-out's alpha");
    for (p, q) in rgba.pixels().zip(photo.pixels()).filter(|(p, _)| p.0[3] == 255) {
        assert_eq!(p.0[..3], q.0[..]);
    }
    let score = iou(&alpha, &truth);
    assert!(score >= 0.9, "IoU with the drawn ball {score:.3}");

    // Cropped: the selection's bounding box, same pixels.
    let (cropped, _) = run(&["--crop"], "crop.png", "crop-mask.png");
    let c = image::open(&cropped).unwrap().to_rgba8();
    let w = photo.width() as usize;
    let xs = alpha.iter().enumerate().filter(|(_, &a)| a).map(|(i, _)| i % w);
    let ys = alpha.iter().enumerate().filter(|(_, &a)| a).map(|(i, _)| i / w);
    let (x0, x1) = (xs.clone().min().unwrap(), xs.max().unwrap());
    let (y0, y1) = (ys.clone().min().unwrap(), ys.max().unwrap());
    assert_eq!(c.dimensions(), ((x1 - x0 + 1) as u32, (y1 - y0 + 1) as u32));
    assert_eq!(c.get_pixel(0, 0).0, rgba.get_pixel(x0 as u32, y0 as u32).0);

    // The ball and its shadow, then more of the grass: each coarser region holds the last.
    let (_, up) = run(&["--coarser", "1"], "up.png", "up-mask.png");
    assert!(holds(&up, &at) && count(&up) > count(&at));
}

fn holds(big: &[bool], small: &[bool]) -> bool {
    small.iter().zip(big).all(|(s, b)| !s || *b)
}

fn count(m: &[bool]) -> usize {
    m.iter().filter(|&&b| b).count()
}

/// Down and up the chain of regions under one pixel of a photo: every step finer is a region
/// inside the last, every step coarser one holding it, and two steps always change the region.
#[test]
fn cutout_walks_the_chain_under_a_pixel() {
    let d = tmp();
    let photo = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/astronaut.jpg");
    let mask = |step: &[&str]| {
        let m = d.path().join("m.png");
        let mut args = vec![
            "cutout",
            s(&photo),
            "--point",
            "100,100",
            "--tau-max",
            "0.8",
            "--refine",
            "none",
        ];
        args.extend(step);
        args.extend([
            "--out",
            s(&d.path().join("c.png")).to_owned().leak(),
            "--mask",
            s(&m).to_owned().leak(),
        ]);
        let o = diffcut(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        read_mask(&m)
    };
    let chain = [
        mask(&["--coarser", "2"]),
        mask(&["--coarser", "1"]),
        mask(&[]),
        mask(&["--finer", "1"]),
        mask(&["--finer", "2"]),
    ];
    for pair in chain.windows(2) {
        assert!(holds(&pair[0], &pair[1]), "a finer region leaves its coarser one");
    }
    // A child may keep all its parent's pixels (its sibling's cells can be assigned to others).
    let counts: Vec<usize> = chain.iter().map(|m| count(m)).collect();
    assert!(counts[0] > counts[2] && counts[2] > counts[4], "{counts:?}");
}

#[test]
fn cutout_names_a_bad_point() {
    let d = tmp();
    let out = d.path().join("cut.png");
    let img = s(&scene("ball.png")).to_owned();
    fails_with(
        &diffcut(&["cutout", &img, "--point", "480,10", "--out", s(&out)]),
        "point",
    );
    fails_with(&diffcut(&["cutout", &img, "--point", "12", "--out", s(&out)]), "X,Y");
    fails_with(
        &diffcut(&[
            "cutout",
            &img,
            "--point",
            "1,2",
            "--coarser",
            "1",
            "--finer",
            "1",
            "--out",
            s(&out),
        ]),
        "cannot be used with",
    );
    assert!(!out.exists(), "nothing is written on a refusal");
}

// --- CLIP naming (tests/fixtures/clip: a tiny random-weight open_clip, see its README) ---------

fn clip_fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/clip")
        .join(path)
}

fn read_npy(p: &Path) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(p).unwrap();
    let rank = npy::parse(&bytes).unwrap().0.shape.len();
    npy::read_f32(&bytes, rank).unwrap()
}

#[test]
fn clip_features_and_text_embed_write_open_clips_tensors() {
    let d = tmp();
    let out = d.path().join("dense.npy");
    let img = clip_fixture("expected/image.png");
    let o = diffcut(&[
        "clip-features",
        s(&img),
        "--clip",
        s(&clip_fixture("tiny-f32")),
        "--size",
        "256",
        "--out",
        s(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (shape, got) = read_npy(&out);
    let (want_shape, want) = read_npy(&clip_fixture("expected/dense_256.npy"));
    assert_eq!(shape, want_shape);
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let err = got.iter().zip(&want).fold(0f32, |m, (a, b)| m.max((a - b).abs())) / scale;
    assert!(err < 1e-4, "dense rel err {err}");

    let texts = clip_fixture("expected/texts.json");
    let (emb, ids) = (d.path().join("emb.npy"), d.path().join("ids.npy"));
    let o = diffcut(&[
        "text-embed",
        "--clip",
        s(&clip_fixture("tiny-f32")),
        "--texts",
        s(&texts),
        "--out",
        s(&emb),
        "--tokens-out",
        s(&ids),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (shape, got) = read_npy(&emb);
    let (want_shape, want) = read_npy(&clip_fixture("expected/text_embed.npy"));
    assert_eq!(shape, want_shape);
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let err = got.iter().zip(&want).fold(0f32, |m, (a, b)| m.max((a - b).abs())) / scale;
    assert!(err < 1e-4, "text embeddings rel err {err}");
    let bytes = std::fs::read(&ids).unwrap();
    let (shape, got) = npy::read_labels(&bytes, 2).unwrap();
    let (_, want) = npy::read_labels(&std::fs::read(clip_fixture("expected/tokens.npy")).unwrap(), 2).unwrap();
    assert_eq!((shape[1], got), (77, want), "token ids");
}

#[test]
fn name_writes_open_clips_names_and_scores() {
    let d = tmp();
    let img = clip_fixture("expected/image.png");
    let mask = clip_fixture("expected/mask.png");
    for (labels, file) in [
        ("voc", "names_voc_256.json"),
        ("cat;dog,puppy;grass", "names_inline_256.json"),
    ] {
        let json = d.path().join("names.json");
        let o = diffcut(&[
            "name",
            s(&img),
            "--clip",
            s(&clip_fixture("tiny-f32")),
            "--mask",
            s(&mask),
            "--labels",
            labels,
            "--size",
            "256",
            "--json",
            s(&json),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let got: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        let want: serde_json::Value =
            serde_json::from_slice(&std::fs::read(clip_fixture("expected").join(file)).unwrap()).unwrap();
        let (got, want) = (
            got["segments"].as_array().unwrap(),
            want["segments"].as_array().unwrap(),
        );
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert_eq!(
                (&g["id"], &g["class"], &g["name"]),
                (&w["id"], &w["class"], &w["name"]),
                "{file}"
            );
            for (a, b) in g["scores"]
                .as_array()
                .unwrap()
                .iter()
                .zip(w["scores"].as_array().unwrap())
            {
                assert!(
                    (a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 0.02,
                    "{file}: {a} vs {b}"
                );
            }
        }
    }
}

#[test]
fn segment_with_clip_names_its_segments_on_the_overlay() {
    let d = tmp();
    let img = clip_fixture("expected/image.png");
    let (out, ov, json) = (d.path().join("m.png"), d.path().join("ov.png"), d.path().join("n.json"));
    let o = diffcut(&[
        "segment",
        s(&img),
        "--grid",
        "16",
        "--refine",
        "none",
        "--clip",
        s(&clip_fixture("tiny-q8")),
        "--labels",
        "voc",
        "--clip-size",
        "128",
        "--out",
        s(&out),
        "--overlay",
        s(&ov),
        "--json",
        s(&json),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let names: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let segments = names["segments"].as_array().unwrap();
    let mask = image::open(&out).unwrap().to_luma8();
    let mut ids: Vec<u64> = mask.pixels().map(|p| u64::from(p.0[0])).collect();
    ids.sort_unstable();
    ids.dedup();
    let named: Vec<u64> = segments.iter().map(|s| s["id"].as_u64().unwrap()).collect();
    assert_eq!(named, ids, "every segment of the mask is named");
    assert!(segments.iter().all(|s| s["scores"].as_array().unwrap().len() == 21));
    let (w, h) = image::image_dimensions(&img).unwrap();
    let (ow, oh) = image::image_dimensions(&ov).unwrap();
    assert_eq!(ow, w);
    assert!(oh > h, "the overlay has a legend strip below the photo");
    for seg in segments {
        assert!(stderr(&o).contains(&format!(": {}", seg["name"].as_str().unwrap())));
    }
}

#[test]
fn naming_refuses_bad_input_clearly() {
    let d = tmp();
    let img = clip_fixture("expected/image.png");
    let mask = clip_fixture("expected/mask.png");
    let clip = clip_fixture("tiny-f32");
    let json = d.path().join("n.json");
    let name = |labels: &str, size: &str, clip: &Path, mask: &Path| {
        diffcut(&[
            "name",
            s(&img),
            "--clip",
            s(clip),
            "--mask",
            s(mask),
            "--labels",
            labels,
            "--size",
            size,
            "--json",
            s(&json),
        ])
    };
    fails_with(&name("vocc", "256", &clip, &mask), "two or more classes");
    fails_with(&name("cat;;dog", "256", &clip, &mask), "empty name");
    fails_with(&name("@/nonexistent/labels.txt", "256", &clip, &mask), "labels.txt");
    fails_with(&name("voc", "250", &clip, &mask), "multiple of");
    fails_with(&name("voc", "256", &clip_fixture("expected"), &mask), "manifest.json");
    fails_with(&name("voc", "256", &clip, &img), "greyscale");
    assert!(!json.exists(), "nothing written on failure");
    // The diffusion model's folder is not a CLIP folder.
    let ssd = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/model/ssd-tiny/q8");
    fails_with(&name("voc", "256", &ssd, &mask), "openclip-convnext");
    let texts = write(d.path(), "t.json", b"{\"not\": \"a list\"}");
    let o = diffcut(&[
        "text-embed",
        "--clip",
        s(&clip),
        "--texts",
        s(&texts),
        "--out",
        s(&json),
    ]);
    fails_with(&o, "JSON array of strings");
    let long = serde_json::to_vec(&vec!["ab".repeat(6000)]).unwrap();
    let texts = write(d.path(), "long.json", &long);
    let o = diffcut(&[
        "text-embed",
        "--clip",
        s(&clip),
        "--texts",
        s(&texts),
        "--out",
        s(&json),
    ]);
    fails_with(&o, "at most 10 000 characters");
}
