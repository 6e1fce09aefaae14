//! CLIP naming against open_clip (tests/fixtures/clip/, made by models/make_tiny_clip.py): the
//! dense map at every stage, the pooled head, token ids, text embeddings, the label sets'
//! classifiers and the names with their scores, per stored dtype, on burn-flex and on wgpu.

mod common;

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use common::{cpu, gpu, rel_err};
use diffcut::model::clip::{labels, ClipModel, LabelSet, Labels, Parts};
use diffcut::model::read_f32;
use diffcut::npy;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/clip")
}

fn expected(file: &str) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(root().join("expected").join(file)).expect(file);
    let rank = npy::parse(&bytes).unwrap().0.shape.len();
    npy::read_f32(&bytes, rank).unwrap()
}

fn json(file: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(root().join("expected").join(file)).expect(file)).unwrap()
}

fn load(dtype: &str, device: &Device, parts: Parts) -> ClipModel {
    ClipModel::load_dir(&root().join(format!("tiny-{dtype}")), device, false, parts)
        .unwrap_or_else(|e| panic!("tiny-{dtype}: {e}"))
}

fn image() -> image::RgbImage {
    image::open(root().join("expected/image.png")).unwrap().to_rgb8()
}

/// The minimum over rows (of `c` values) of the cosine between `a` and `b`.
fn min_row_cosine(a: &[f32], b: &[f32], c: usize) -> f64 {
    assert_eq!(a.len(), b.len());
    a.chunks(c)
        .zip(b.chunks(c))
        .map(|(x, y)| {
            let dot: f64 = x.iter().zip(y).map(|(&p, &q)| p as f64 * q as f64).sum();
            let nx: f64 = x.iter().map(|&p| (p as f64).powi(2)).sum::<f64>().sqrt();
            let ny: f64 = y.iter().map(|&q| (q as f64).powi(2)).sum::<f64>().sqrt();
            dot / (nx * ny).max(1e-30)
        })
        .fold(1.0, f64::min)
}

/// The acceptance bar of each dtype (min per-token cosine to open_clip's float32).
fn bar(dtype: &str) -> f64 {
    match dtype {
        "f32" => 0.9999,
        "f16" => 0.999,
        _ => 0.99,
    }
}

/// `[1, C, h, w]` → `[h, w, C]` row-major.
fn to_hwc(v: &[f32], c: usize, hw: usize) -> Vec<f32> {
    (0..hw).flat_map(|p| (0..c).map(move |k| v[k * hw + p])).collect()
}

/// Dense map at every stage and the pooled head, for one dtype on one device. Returns the
/// minimum cosine seen.
fn check_image(dtype: &str, device: &Device) -> f64 {
    let m = load(dtype, device, Parts::Image);
    let img = image();
    let mut worst: f64 = 1.0;
    for s in [256u32, 320] {
        let input = ClipModel::preprocess(&img, s).unwrap();
        let (_, want) = expected(&format!("input_{s}.npy"));
        assert!(
            rel_err(&input, &want) < 1e-5,
            "input at {s}: preprocessing differs from torch"
        );
        let mut traced = Vec::new();
        let dense = m
            .dense(input, s, &mut |name, t| {
                if s == 256 {
                    let [_, c, h, w] = t.dims();
                    let v = pollster::block_on(read_f32(t.clone())).unwrap();
                    traced.push((name.to_string(), c, to_hwc(&v, c, h * w)));
                }
            })
            .unwrap();
        for (name, c, got) in &traced {
            let (_, want) = expected(&format!("{name}_{s}.npy"));
            let cos = min_row_cosine(got, &want, *c);
            assert!(cos >= bar(dtype), "{dtype}: {name} at {s}: min cosine {cos}");
        }
        let [_, c, h, w] = dense.dims();
        let got = to_hwc(&pollster::block_on(read_f32(dense)).unwrap(), c, h * w);
        let (shape, want) = expected(&format!("dense_{s}.npy"));
        assert_eq!(shape, [h, w, c], "dense shape at {s}");
        let cos = min_row_cosine(&got, &want, c);
        assert!(cos >= bar(dtype), "{dtype}: dense at {s}: min cosine {cos}");
        worst = worst.min(cos);
        // Tight: open_clip on the stored (rounded or dequantized) weights must give what we
        // give, up to float32 arithmetic order.
        if s == 256 {
            let exact = if dtype == "f32" {
                "dense_256.npy".to_string()
            } else {
                format!("dense_256_{dtype}.npy")
            };
            let e = rel_err(&got, &expected(&exact).1);
            assert!(e < 1e-4, "{dtype}: dense vs {exact}: rel err {e}");
        }

        // The pooled head, on open_clip's own pooling of its own dense map, and on ours.
        let mask = image::open(root().join("expected/mask.png")).unwrap().to_luma8();
        let (mw, mh) = mask.dimensions();
        let ids: Vec<u32> = mask.pixels().map(|p| u32::from(p.0[0])).collect();
        let (seg, pooled) = labels::mask_pool(&want, [h, w, c], &ids, [mh as usize, mw as usize], s as usize).unwrap();
        let want_ids: Vec<u32> = serde_json::from_value(json("segments.json")["ids"].clone()).unwrap();
        assert_eq!(seg, want_ids);
        let got = pollster::block_on(m.embed_pooled(pooled, seg.len())).unwrap();
        let (_, want) = expected(&format!("pooled_{s}.npy"));
        let d = m.config.embed_dim;
        let cos = min_row_cosine(&got, &want, d);
        assert!(cos >= bar(dtype), "{dtype}: pooled head at {s}: min cosine {cos}");
        worst = worst.min(cos);
        if s == 256 && dtype != "f32" {
            // On open_clip's pooling of its own dense map from the stored weights.
            let (_, dense) = expected(&format!("dense_256_{dtype}.npy"));
            let (_, pooled) = labels::mask_pool(&dense, [h, w, c], &ids, [mh as usize, mw as usize], 256).unwrap();
            let got = pollster::block_on(m.embed_pooled(pooled, seg.len())).unwrap();
            let e = rel_err(&got, &expected(&format!("pooled_256_{dtype}.npy")).1);
            assert!(
                e < 1e-4,
                "{dtype}: pooled head vs open_clip on the stored weights: rel err {e}"
            );
        }
    }
    worst
}

#[test]
fn image_tower_matches_open_clip_per_dtype_on_the_cpu() {
    for dtype in ["f32", "f16", "q8"] {
        let cos = check_image(dtype, &cpu());
        eprintln!("image tower {dtype} (cpu): min cosine {cos:.6}");
    }
}

#[test]
fn image_tower_matches_open_clip_on_wgpu() {
    for dtype in ["f32", "q8"] {
        let cos = check_image(dtype, &gpu());
        eprintln!("image tower {dtype} (wgpu): min cosine {cos:.6}");
    }
}

fn check_text(dtype: &str, device: &Device) -> f64 {
    let m = load(dtype, device, Parts::Text);
    let texts: Vec<String> = serde_json::from_value(json("texts.json")).unwrap();
    let ids = m.tokenize(&texts).unwrap();
    let bytes = std::fs::read(root().join("expected/tokens.npy")).unwrap();
    let (_, want) = npy::read_labels(&bytes, 2).unwrap();
    for (i, (got, want)) in ids.chunks(77).zip(want.chunks(77)).enumerate() {
        let got: Vec<i64> = got.iter().map(|&v| v as i64).collect();
        assert_eq!(got, want, "token ids of {:?}", texts[i]);
    }
    let got = pollster::block_on(m.encode_text(&texts)).unwrap();
    let (_, want) = expected("text_embed.npy");
    let cos = min_row_cosine(&got, &want, m.config.embed_dim);
    assert!(cos >= bar(dtype), "{dtype}: text embeddings: min cosine {cos}");
    let exact = if dtype == "f32" {
        "text_embed.npy".to_string()
    } else {
        format!("text_embed_{dtype}.npy")
    };
    let e = rel_err(&got, &expected(&exact).1);
    assert!(e < 1e-4, "{dtype}: text embeddings vs {exact}: rel err {e}");
    cos
}

#[test]
fn text_tower_matches_open_clip_per_dtype_on_the_cpu() {
    for dtype in ["f32", "f16", "q8"] {
        let cos = check_text(dtype, &cpu());
        eprintln!("text tower {dtype} (cpu): min cosine {cos:.6}");
    }
}

#[test]
fn text_tower_matches_open_clip_on_wgpu() {
    for dtype in ["f32", "q8"] {
        let cos = check_text(dtype, &gpu());
        eprintln!("text tower {dtype} (wgpu): min cosine {cos:.6}");
    }
}

#[test]
fn precomputed_label_sets_are_open_clips_and_the_text_tower_rebuilds_them() {
    let m = load("f32", &cpu(), Parts::All);
    let sets: Vec<LabelSet> = m.label_sets().collect();
    assert_eq!(sets.len(), 5, "{sets:?}");
    for set in sets {
        let stored = pollster::block_on(m.classifier(&Labels::Set(set))).unwrap();
        let (_, want) = expected(&format!("classifier_{}.npy", set.name()));
        let e = rel_err(stored.rows(), &want);
        assert!(e < 1e-6, "{}: stored classifier rel err {e}", set.name());
    }
    // Built here from the class names: tokenizer, templates, text tower, averaging.
    let rebuilt = pollster::block_on(m.classifier(&Labels::Custom(LabelSet::Voc.classes()))).unwrap();
    let (_, want) = expected("classifier_voc.npy");
    let cos = min_row_cosine(rebuilt.rows(), &want, m.config.embed_dim);
    assert!(
        cos >= 0.9999,
        "voc classifier rebuilt with the text tower: min cosine {cos}"
    );
}

/// Names and scores against open_clip's for one label list.
fn check_names(m: &ClipModel, labels: &Labels, file: &str, size: u32, tol: f32) {
    let mask = image::open(root().join("expected/mask.png")).unwrap().to_luma8();
    let (w, h) = mask.dimensions();
    let ids: Vec<u32> = mask.pixels().map(|p| u32::from(p.0[0])).collect();
    let classifier = pollster::block_on(m.classifier(labels)).unwrap();
    let got = pollster::block_on(m.name_segments(&image(), &ids, [h as usize, w as usize], &classifier, size)).unwrap();
    let want = json(file);
    let want = want["segments"].as_array().unwrap();
    assert_eq!(got.len(), want.len(), "{file}: segments");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(u64::from(g.id), w["id"].as_u64().unwrap(), "{file}");
        let ws: Vec<f32> = serde_json::from_value(w["scores"].clone()).unwrap();
        let worst = g
            .scores
            .iter()
            .zip(&ws)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst <= tol, "{file}: segment {}: scores differ by {worst}", g.id);
        // The class must agree unless open_clip's own top two are within the tolerance.
        let mut sorted = ws.clone();
        sorted.sort_by(|a, b| b.total_cmp(a));
        if sorted[0] - sorted[1] > 2.0 * tol {
            assert_eq!(g.class as u64, w["class"].as_u64().unwrap(), "{file}: segment {}", g.id);
            assert_eq!(g.name, w["name"].as_str().unwrap());
        }
    }
}

#[test]
fn names_and_scores_match_open_clip() {
    let m = load("f32", &cpu(), Parts::All);
    check_names(&m, &Labels::Set(LabelSet::Voc), "names_voc_256.json", 256, 0.02);
    check_names(
        &m,
        &Labels::Set(LabelSet::CocoObject),
        "names_coco-object_256.json",
        256,
        0.02,
    );
    let inline = Labels::inline("cat;dog,puppy;grass").unwrap();
    check_names(&m, &inline, "names_inline_256.json", 256, 0.02);
}

#[test]
fn the_image_part_alone_names_with_the_official_sets_and_asks_for_the_text_part_otherwise() {
    let m = load("q8", &cpu(), Parts::Image);
    check_names(&m, &Labels::Set(LabelSet::Voc), "names_voc_256.json", 256, 0.5);
    let err = pollster::block_on(m.classifier(&Labels::inline("cat;dog").unwrap())).unwrap_err();
    assert!(err.to_string().contains("text part"), "{err}");
}

#[test]
fn the_mlp_on_blocks_of_tokens_equals_the_whole_mlp() {
    // At S = 1024 the first stage's MLP runs on blocks of tokens (its hidden activation would not
    // fit one WebGPU binding); a tiny budget makes the fixture do the same at 256.
    let mut m = load("f32", &cpu(), Parts::Image);
    let img = image();
    let whole = pollster::block_on(m.dense_features(&img, 256)).unwrap();
    m.set_mlp_chunk_values(1000);
    let blocked = pollster::block_on(m.dense_features(&img, 256)).unwrap();
    assert_eq!(whole.shape, blocked.shape);
    let e = rel_err(&blocked.values, &whole.values);
    assert!(e < 1e-6, "rel err {e}");
}

/// Above S = 1024 the stem, the first stage and the second stage's downsampling run on row bands
/// (the first stage's activations would not fit one WebGPU binding at 2048). A tiny budget makes
/// the fixture cut its 64-row first stage at 256 into bands of 2, 6 or 26 rows; the dense map is
/// the whole trunk's, on the CPU and on wgpu.
#[test]
fn the_first_stage_on_bands_of_rows_equals_the_whole_stage() {
    let img = image();
    for device in [cpu(), gpu()] {
        let mut m = load("f32", &device, Parts::Image);
        let whole = pollster::block_on(m.dense_features(&img, 256)).unwrap();
        // 64 × 32 values per first-stage row; the stage's one 7×7 block reads 3 rows of context.
        for rows in [2usize, 6, 26] {
            m.set_band_values((rows + 6) * 64 * 32);
            let banded = pollster::block_on(m.dense_features(&img, 256)).unwrap();
            assert_eq!(whole.shape, banded.shape);
            let e = rel_err(&banded.values, &whole.values);
            assert!(e < 1e-5, "{rows}-row bands: rel err {e}");
        }
        m.set_band_values(usize::MAX);
    }
}
