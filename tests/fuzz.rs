//! Property-based fuzzing of every parser of outside bytes, on stable Rust, with the seeded driver
//! of tests/fuzz_support/. Each target prints `fuzz <target>: N inputs, F failures in T s`.
//!
//! | target        | input                                   | property                                                         |
//! |---------------|-----------------------------------------|------------------------------------------------------------------|
//! | `npy`         | `.npy` bytes                            | parse or a clear error; parsed features segment, labels < K      |
//! | `tree`        | tree JSON (structured + byte mutations) | `validate` refuses it, or it is a tree and every τ labels every cell < K |
//! | `image`       | PNG/JPEG/GIF/BMP/TIFF/WebP bytes        | decode within the size limits, or a clear error                  |
//! | `label_png`   | label PNG bytes                         | grey 8/16-bit label map of the right size, or an error naming the file |
//! | `model`       | a model folder (manifest, config, shards, noise) | an error naming the problem, or features of the config's shape |
//! | `clip`        | a CLIP folder (manifest, config, shards, label sets, vocabulary), any part | an error naming the problem, or names with a score per class and text embeddings of D |
//! | `labels`      | a `--labels` value (set name, inline list, label file text) | the classes, or an error naming the problem; never an empty class |
//! | `cli`         | a mutated input file for the `diffcut` binary | exit status 0 or 1 in time; `--out` untouched on failure, valid on success |
//! | `wire`        | a subtree and job parameters as the page's helper worker sends them (`f64`s) | decoded, or an error naming where; decoded nodes encode and decode to themselves |
//!
//! No input may panic, run longer than `FUZZ_TIMEOUT_S` (10 s), make one allocation over 1 GiB
//! or hold over 3 GiB. The short run (the default counts) takes seconds; `./build.sh fuzz` sets
//! `FUZZ_ITERS=100000` for the long run.

mod fuzz_support;

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use diffcut::eval::miou::{load_label_png, Accumulator};
use diffcut::image_io::{decode_image, MAX_PIXELS, MAX_SIDE};
use diffcut::ncut::tree::{NodeCut, TreeNode};
use diffcut::ncut::{segment_tree, FeatureGrid, Mode, SegmentTree, TreeOptions};
use diffcut::npy;
use fuzz_support::{
    cheap_iters, fix_png_crcs, iters, mutate_bytes, mutate_number_in_text, pack, run, time_limit, unpack,
    CountingAlloc, Rng, Verdict,
};
use image::{DynamicImage, ImageFormat, RgbImage};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Inputs per cheap target in the short run (the whole binary stays well under a minute).
const SHORT_ITERS: usize = 2_000;

/// Features with more cells than this are parsed but not segmented by the `npy` target: the
/// N×N affinity of the CPU path is only bounded by the feature limits of the code under test,
/// and this keeps every input to milliseconds.
const NPY_SEGMENT_CELLS: usize = 144;

fn non_empty_error(e: &diffcut::Error) -> Result<Verdict, String> {
    if e.to_string().trim().is_empty() {
        Err(format!("an error without a message: {e:?}"))
    } else {
        Ok(Verdict::Pass)
    }
}

/// Labels `[n]` in `0..k`, `k ≥ 1`.
fn check_labels(what: &str, labels: &[u32], k: usize, n: usize) -> Result<(), String> {
    if labels.len() != n {
        return Err(format!("{what}: {} labels for {n} cells", labels.len()));
    }
    if k == 0 && n > 0 {
        return Err(format!("{what}: 0 segments for {n} cells"));
    }
    if let Some((cell, l)) = labels.iter().enumerate().find(|(_, &l)| l as usize >= k) {
        return Err(format!("{what}: cell {cell} has label {l}, not below K = {k}"));
    }
    Ok(())
}

fn hash(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

// --- 1. `.npy` → features → a small segmentation ----------------------------------------------

/// `.npy` v1 bytes → the same array as v2 (4-byte header length).
fn npy_v2(v1: &[u8]) -> Vec<u8> {
    let hlen = u16::from_le_bytes([v1[8], v1[9]]) as usize;
    let mut out = v1[..6].to_vec();
    out.extend_from_slice(&[2, 0]);
    out.extend_from_slice(&(hlen as u32).to_le_bytes());
    out.extend_from_slice(&v1[10..]);
    out
}

/// Clustered random features `[h, w, c]`: a few centres plus noise, so the cuts are real.
fn clustered(rng: &mut Rng, h: usize, w: usize, c: usize) -> Vec<f32> {
    let k = rng.range(1, 4);
    let centres: Vec<Vec<f32>> = (0..k)
        .map(|_| (0..c).map(|_| rng.unit() as f32 * 2.0 - 1.0).collect())
        .collect();
    let mut out = Vec::with_capacity(h * w * c);
    for cell in 0..h * w {
        let centre = &centres[(cell * k / (h * w).max(1) + rng.below(2)) % k];
        out.extend(centre.iter().map(|&v| v + (rng.unit() as f32 - 0.5) * 0.2));
    }
    out
}

fn npy_seeds() -> Vec<Vec<u8>> {
    let mut rng = Rng::new(1);
    let mut seeds = Vec::new();
    for (h, w, c) in [
        (1, 1, 1),
        (2, 3, 1),
        (4, 4, 3),
        (6, 5, 8),
        (8, 8, 4),
        (3, 7, 2),
        (12, 12, 2),
    ] {
        let data = clustered(&mut rng, h, w, c);
        let v1 = npy::encode_f32(&[h, w, c], &data);
        seeds.push(npy_v2(&v1));
        // Big-endian: the same values, swapped.
        let mut be = String::from_utf8_lossy(&v1[..v1.len() - data.len() * 4])
            .replace("'<f4'", "'>f4'")
            .into_bytes();
        be.extend(data.iter().flat_map(|v| v.to_be_bytes()));
        seeds.push(be);
        seeds.push(v1);
    }
    seeds.push(npy::encode_f32(&[3, 3, 2], &[0.0; 18]));
    seeds.push(npy::encode_f32(&[4, 2, 3], &[1.0; 24]));
    seeds.push(npy::encode_i32(&[4, 5], &(0..20).collect::<Vec<i32>>()));
    seeds.push(npy::encode_i32(&[6], &[0, 1, 2, -3, i32::MAX, i32::MIN]));
    seeds
}

/// Rewrites the header text of `.npy` bytes (shape, dtype, order), fixing its length field or not.
fn mutate_npy_header(rng: &mut Rng, bytes: &[u8]) -> Vec<u8> {
    if bytes.len() < 12 {
        return bytes.to_vec();
    }
    let (start, hlen) = match bytes[6] {
        1 => (10, u16::from_le_bytes([bytes[8], bytes[9]]) as usize),
        _ => (
            12,
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
        ),
    };
    let end = (start + hlen).min(bytes.len());
    let text = String::from_utf8_lossy(&bytes[start..end]).into_owned();
    let new = match rng.below(5) {
        0 => {
            let dims: Vec<String> = (0..rng.below(5))
                .map(|_| {
                    let d = *rng.pick(&[0u64, 1, 2, 3, 5, 8, 16, 256, 65_536, 1 << 32, u64::MAX]);
                    d.to_string()
                })
                .collect();
            let shape = format!("({})", dims.join(", "));
            match (text.find("'shape': ("), text.find(')')) {
                (Some(a), Some(b)) if b > a => format!("{}'shape': {shape}{}", &text[..a], &text[b + 1..]),
                _ => text,
            }
        }
        1 => {
            let descr = *rng.pick(&[
                "<f4", ">f4", "=f4", "|f4", "<f8", "<i4", "<i8", "|u1", "<u2", ">i4", "", "<f4'",
            ]);
            match text.find("'descr': '") {
                Some(a) => {
                    let rest = &text[a + 10..];
                    let close = rest.find('\'').unwrap_or(0);
                    format!("{}'descr': '{descr}{}", &text[..a], &rest[close..])
                }
                None => text,
            }
        }
        2 => text.replace("False", "True"),
        3 => mutate_number_in_text(rng, &text),
        _ => {
            // Drop or duplicate a field.
            let field = *rng.pick(&["'descr'", "'fortran_order'", "'shape'"]);
            text.replacen(field, if rng.one_in(2) { "'x'" } else { field }, 1)
        }
    };
    let mut out = bytes[..start].to_vec();
    if !rng.one_in(4) {
        // A consistent length field.
        if bytes[6] == 1 {
            out[8..10].copy_from_slice(&(new.len().min(u16::MAX as usize) as u16).to_le_bytes());
        } else {
            out[8..12].copy_from_slice(&(new.len() as u32).to_le_bytes());
        }
    }
    out.extend_from_slice(new.as_bytes());
    out.extend_from_slice(&bytes[end..]);
    out
}

fn check_npy(bytes: &[u8]) -> Result<Verdict, String> {
    let _ = npy::parse(bytes);
    for rank in 1..=3 {
        if let Ok((shape, values)) = npy::read_labels(bytes, rank) {
            if shape.iter().product::<usize>() != values.len() {
                return Err(format!("read_labels: shape {shape:?} with {} values", values.len()));
            }
        }
    }
    let (shape, data) = match npy::read_f32(bytes, 3) {
        Ok(v) => v,
        Err(e) => return non_empty_error(&e),
    };
    if shape.len() != 3 || shape.iter().product::<usize>() != data.len() {
        return Err(format!("read_f32: shape {shape:?} with {} values", data.len()));
    }
    let f = match FeatureGrid::new(shape[0], shape[1], shape[2], data) {
        Ok(f) => f,
        Err(e) => return non_empty_error(&e),
    };
    if f.cells() > NPY_SEGMENT_CELLS || f.c > 64 {
        return Ok(Verdict::Pass);
    }
    let mode = if hash(bytes) & 1 == 0 {
        Mode::Official
    } else {
        Mode::Clean
    };
    let opts = TreeOptions {
        tau_max: 1.0,
        mode,
        ..TreeOptions::default()
    };
    let tree = match segment_tree(&f, 10.0, opts) {
        Ok(t) => t,
        Err(e) => return non_empty_error(&e),
    };
    tree.validate()
        .map_err(|e| format!("a tree grown from features fails validate: {e}"))?;
    for tau in [0.2, 0.5, 1.0] {
        let (labels, k) = tree.labels_at(tau).map_err(|e| format!("labels_at({tau}): {e}"))?;
        check_labels(&format!("labels_at({tau})"), &labels, k, f.cells())?;
        let (labels, k) = tree
            .leaf_labels_at(tau)
            .map_err(|e| format!("leaf_labels_at({tau}): {e}"))?;
        check_labels(&format!("leaf_labels_at({tau})"), &labels, k, f.cells())?;
    }
    Ok(Verdict::Deep)
}

#[test]
fn fuzz_npy() {
    let seeds = npy_seeds();
    let deep = seeds
        .iter()
        .filter(|s| matches!(check_npy(s), Ok(Verdict::Deep)))
        .count();
    assert!(seeds.iter().all(|s| check_npy(s).is_ok()), "a seed fails");
    assert!(deep >= 14, "only {deep} seeds segment");
    let report = run(
        "npy",
        cheap_iters(SHORT_ITERS),
        time_limit(1),
        |rng, _| {
            let seed = rng.pick(&seeds).clone();
            match rng.below(4) {
                0 => mutate_npy_header(rng, &seed),
                1 => {
                    let header = mutate_npy_header(rng, &seed);
                    mutate_bytes(rng, &header, &seeds)
                }
                _ => mutate_bytes(rng, &seed, &seeds),
            }
        },
        check_npy,
    );
    report.assert_clean("npy");
}

// --- 2. tree JSON → validate → labels at τ --------------------------------------------------

fn grow_tree(rng: &mut Rng, mode: Mode) -> SegmentTree {
    let (h, w, c) = (rng.range(1, 6), rng.range(1, 6), rng.range(1, 6));
    let data = clustered(rng, h, w, c);
    let f = FeatureGrid::new(h, w, c, data).unwrap();
    let opts = TreeOptions {
        tau_max: *rng.pick(&[0.5, 1.0, 2.0]),
        mode,
        ..TreeOptions::default()
    };
    segment_tree(&f, *rng.pick(&[1.0, 5.0, 10.0]), opts).unwrap()
}

fn zero_cut(cells: usize) -> NodeCut {
    NodeCut {
        ncut: 0.0,
        lambda: 0.0,
        threshold: 0.0,
        fiedler: vec![1.0; cells],
        curve: vec![],
        thresholds: vec![],
        lanczos_steps: 0,
    }
}

/// One structural mutation of a tree.
fn mutate_tree(rng: &mut Rng, t: &mut SegmentTree) {
    let len = t.nodes.len();
    if len == 0 {
        t.nodes.push(TreeNode {
            cells: vec![],
            depth: 0,
            parent: None,
            cut: None,
            children: None,
        });
        return;
    }
    let n = (t.grid[0].saturating_mul(t.grid[1])) as u32;
    let i = rng.below(len);
    let j = rng.below(len);
    let internal: Vec<usize> = (0..len).filter(|&k| t.nodes[k].children.is_some()).collect();
    match rng.below(20) {
        0 => {
            // Children pointing at the same node.
            let k = t.nodes[i].children.map_or(j as u32, |c| c[rng.below(2)]);
            t.nodes[i].children = Some([k, k]);
        }
        1 => {
            t.nodes[i].cells.clear();
            if let Some(cut) = &mut t.nodes[i].cut {
                cut.fiedler.clear();
            }
        }
        2 => {
            if let Some(&c) = t.dropped.first() {
                t.dropped.push(c);
            } else {
                t.dropped.push(rng.below(n.max(1) as usize) as u32);
            }
        }
        3 => {
            if !t.dropped.is_empty() {
                let k = rng.below(t.dropped.len());
                t.dropped.remove(k);
            }
        }
        4 => t.dropped.push(*rng.pick(&[0, n, n.wrapping_sub(1), u32::MAX])),
        5 => {
            let (a, b) = (t.nodes[i].parent, t.nodes[j].parent);
            t.nodes[i].parent = b;
            t.nodes[j].parent = a;
        }
        6 => t.nodes[i].depth = rng.wild_u64() as u32,
        7 => {
            if let Some(cut) = &mut t.nodes[i].cut {
                match rng.below(4) {
                    0 => cut.fiedler.pop().map_or((), drop),
                    1 => cut.fiedler.push(rng.wild_f64()),
                    2 => cut.curve.truncate(rng.below(cut.curve.len() + 1)),
                    _ => cut.thresholds.clear(),
                }
            }
        }
        8 => {
            if let Some(cut) = &mut t.nodes[i].cut {
                match rng.below(4) {
                    0 => cut.ncut = rng.wild_f64(),
                    1 => cut.threshold = rng.wild_f64(),
                    2 => cut.lambda = rng.wild_f64(),
                    _ => {
                        if !cut.fiedler.is_empty() {
                            let k = rng.below(cut.fiedler.len());
                            cut.fiedler[k] = rng.wild_f64();
                        }
                    }
                }
            }
        }
        9 => {
            t.grid = match rng.below(4) {
                0 => [t.grid[1], t.grid[0]],
                1 => [0, t.grid[1]],
                2 => [usize::MAX, 2],
                _ => [rng.wild_u64() as usize, rng.wild_u64() as usize],
            }
        }
        10 => {
            // A cycle: a child that is the node itself, the root or an ancestor.
            let target = *rng.pick(&[i as u32, 0, t.nodes[i].parent.unwrap_or(0)]);
            let other = t.nodes[i].children.map_or(j as u32, |c| c[1]);
            t.nodes[i].children = Some([target, other]);
            if t.nodes[i].cut.is_none() {
                t.nodes[i].cut = Some(zero_cut(t.nodes[i].cells.len()));
            }
        }
        11 => {
            let bad = *rng.pick(&[len as u32, u32::MAX, (len + 1) as u32]);
            let other = t.nodes[i].children.map_or(0, |c| c[0]);
            t.nodes[i].children = Some([other, bad]);
        }
        12 => {
            let c = *rng.pick(&[n, u32::MAX, n.saturating_add(1)]);
            t.nodes[i].cells.push(c);
        }
        13 => match rng.below(3) {
            0 => {
                t.nodes.remove(i);
            }
            1 => t.nodes.truncate(i.max(1)),
            _ => {
                let copy = t.nodes[i].clone();
                t.nodes.push(copy);
            }
        },
        14 => t.tau_max = rng.wild_f64(),
        15 => {
            if rng.one_in(2) {
                t.nodes[i].cut = None;
            } else {
                t.nodes[i].children = None;
            }
        }
        16 => {
            // Move a cell from one child to its sibling.
            if let Some(&p) = (!internal.is_empty()).then(|| rng.pick(&internal)) {
                let [a, b] = t.nodes[p].children.unwrap();
                let (a, b) = (a as usize, b as usize);
                if a < len && b < len && !t.nodes[a].cells.is_empty() {
                    let c = t.nodes[a].cells.remove(0);
                    t.nodes[b].cells.push(c);
                    if rng.one_in(2) {
                        t.nodes[b].cells.sort_unstable();
                    }
                }
            }
        }
        17 => {
            t.mode = match t.mode {
                Mode::Official => Mode::Clean,
                Mode::Clean => Mode::Official,
            }
        }
        18 => {
            // A leaf split into (all its cells, nothing), the empty side a chain of nodes whose two
            // children are one node: a small file with 2^depth paths.
            let leaves: Vec<usize> = (0..len).filter(|&k| t.nodes[k].children.is_none()).collect();
            let Some(&leaf) = (!leaves.is_empty()).then(|| rng.pick(&leaves)) else {
                return;
            };
            let depth = rng.range(1, 48);
            let cells = t.nodes[leaf].cells.clone();
            let d0 = t.nodes[leaf].depth;
            t.nodes[leaf].cut = Some(zero_cut(cells.len()));
            let (full, empty) = (len as u32, len as u32 + 1);
            t.nodes[leaf].children = Some([full, empty]);
            t.nodes.push(TreeNode {
                cells,
                depth: d0 + 1,
                parent: Some(leaf as u32),
                cut: None,
                children: None,
            });
            for k in 0..depth {
                let me = empty + k as u32;
                t.nodes.push(TreeNode {
                    cells: vec![],
                    depth: d0 + 1 + k as u32,
                    parent: Some(if k == 0 { leaf as u32 } else { me - 1 }),
                    cut: (k + 1 < depth).then(|| zero_cut(0)),
                    children: (k + 1 < depth).then_some([me + 1, me + 1]),
                });
            }
        }
        _ => {
            // Swap two nodes' children.
            let (a, b) = (t.nodes[i].children, t.nodes[j].children);
            t.nodes[i].children = b;
            t.nodes[j].children = a;
        }
    }
}

/// What `validate` must rule out before a re-cut walks the tree, checked independently in
/// O(nodes): every node reached at most once from the root, every dropped cell listed once.
fn not_a_tree(t: &SegmentTree) -> Option<String> {
    let mut seen = vec![false; t.nodes.len()];
    let mut stack = vec![0usize];
    while let Some(i) = stack.pop() {
        if i >= t.nodes.len() {
            return Some(format!("a child index {i} is past the {} nodes", t.nodes.len()));
        }
        if std::mem::replace(&mut seen[i], true) {
            return Some(format!("node {i} is reached twice"));
        }
        if let Some([a, b]) = t.nodes[i].children {
            stack.push(a as usize);
            stack.push(b as usize);
        }
    }
    let mut dropped = t.dropped.clone();
    dropped.sort_unstable();
    if dropped.windows(2).any(|p| p[0] == p[1]) {
        return Some("a dropped cell is listed twice".into());
    }
    None
}

fn check_tree_json(bytes: &[u8]) -> Result<Verdict, String> {
    // The front ends' entry point (`diffcut recut`, the Python package): parse, then validate.
    let tree = match SegmentTree::from_json(bytes) {
        Ok(tree) => tree,
        Err(e) => return non_empty_error(&e),
    };
    if let Some(why) = not_a_tree(&tree) {
        return Err(format!("validate accepted a tree that is not a tree: {why}"));
    }
    let n = tree.grid[0] * tree.grid[1];
    let nodes = tree.nodes.len();
    for tau in [tree.tau_max, tree.tau_max * 0.5, 0.3, 1e-9, 2.0] {
        let Ok(leaves) = tree.leaves_at(tau) else {
            continue; // τ out of range for this tree: refused, fine
        };
        if leaves.len() > nodes {
            return Err(format!("leaves_at({tau}): {} leaves from {nodes} nodes", leaves.len()));
        }
        let masks = tree.masks_at(tau).map_err(|e| format!("masks_at({tau}): {e}"))?;
        if masks.len() > nodes || masks.iter().flatten().any(|&c| c as usize >= n) {
            return Err(format!(
                "masks_at({tau}): {} masks or a cell outside the grid",
                masks.len()
            ));
        }
        let (labels, k) = tree.labels_at(tau).map_err(|e| format!("labels_at({tau}): {e}"))?;
        check_labels(&format!("labels_at({tau})"), &labels, k, n)?;
        let (labels, k) = tree
            .leaf_labels_at(tau)
            .map_err(|e| format!("leaf_labels_at({tau}): {e}"))?;
        check_labels(&format!("leaf_labels_at({tau})"), &labels, k, n)?;
        if k != leaves.len() {
            return Err(format!("leaf_labels_at({tau}): K = {k} for {} leaves", leaves.len()));
        }
    }
    Ok(Verdict::Deep)
}

#[test]
fn fuzz_tree() {
    let mut rng = Rng::new(2);
    let seeds: Vec<SegmentTree> = (0..24)
        .map(|i| grow_tree(&mut rng, if i % 2 == 0 { Mode::Official } else { Mode::Clean }))
        .collect();
    let seed_json: Vec<Vec<u8>> = seeds.iter().map(|t| serde_json::to_vec(t).unwrap()).collect();
    for s in &seed_json {
        assert!(matches!(check_tree_json(s), Ok(Verdict::Deep)), "a grown tree fails");
    }
    let report = run(
        "tree",
        cheap_iters(SHORT_ITERS),
        time_limit(1),
        |rng, _| {
            let mut t = rng.pick(&seeds).clone();
            for _ in 0..rng.range(0, 3) {
                mutate_tree(rng, &mut t);
            }
            let json = serde_json::to_vec(&t).unwrap();
            match rng.below(6) {
                0 => mutate_bytes(rng, &json, &seed_json),
                1 => mutate_number_in_text(rng, &String::from_utf8(json).unwrap()).into_bytes(),
                _ => json,
            }
        },
        check_tree_json,
    );
    report.assert_clean("tree");
}

// --- 3. image bytes → decode; label PNG → decode ----------------------------------------------

fn picture() -> RgbImage {
    RgbImage::from_fn(13, 9, |x, y| {
        image::Rgb([
            (x * 19) as u8,
            (y * 28) as u8,
            if (x / 3 + y / 3) % 2 == 0 { 30 } else { 220 },
        ])
    })
}

fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format)
        .unwrap_or_else(|e| panic!("encode {format:?}: {e}"));
    out.into_inner()
}

fn image_seeds() -> Vec<Vec<u8>> {
    let rgb = DynamicImage::ImageRgb8(picture());
    let rgba = DynamicImage::ImageRgba8(rgb.to_rgba8());
    let mut seeds = vec![
        encode(&rgb, ImageFormat::Png),
        encode(&rgba, ImageFormat::Png),
        encode(&DynamicImage::ImageLuma8(rgb.to_luma8()), ImageFormat::Png),
        encode(&DynamicImage::ImageLuma16(rgb.to_luma16()), ImageFormat::Png),
        encode(&rgb, ImageFormat::Jpeg),
        encode(&rgba, ImageFormat::Gif),
        encode(&rgb, ImageFormat::Bmp),
        encode(&rgb, ImageFormat::Tiff),
        encode(&rgba, ImageFormat::WebP),
    ];
    seeds.push(encode(&DynamicImage::ImageRgb8(RgbImage::new(1, 1)), ImageFormat::Png));
    seeds
}

/// Byte mutations; for a PNG, half the time with the chunk CRCs made right again.
fn mutate_image(rng: &mut Rng, seed: &[u8], seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut v = mutate_bytes(rng, seed, seeds);
    if v.starts_with(b"\x89PNG") && rng.one_in(2) {
        fix_png_crcs(&mut v);
    }
    v
}

/// A freshly encoded random picture: random size (1..=40 a side), colour type and format.
fn fresh_image(rng: &mut Rng) -> Vec<u8> {
    let (w, h) = (rng.range(1, 40) as u32, rng.range(1, 40) as u32);
    let seed = rng.next_u64();
    let rgb = RgbImage::from_fn(w, h, |x, y| {
        let v = seed.wrapping_mul(u64::from(x * 31 + y * 17 + 1)).rotate_left(x + y);
        image::Rgb([v as u8, (v >> 8) as u8, (v >> 16) as u8])
    });
    let img = match rng.below(4) {
        0 => DynamicImage::ImageRgb8(rgb),
        1 => DynamicImage::ImageRgba8(DynamicImage::ImageRgb8(rgb).to_rgba8()),
        2 => DynamicImage::ImageLuma8(DynamicImage::ImageRgb8(rgb).to_luma8()),
        _ => DynamicImage::ImageLuma16(DynamicImage::ImageRgb8(rgb).to_luma16()),
    };
    let format = *rng.pick(&[
        ImageFormat::Png,
        ImageFormat::Jpeg,
        ImageFormat::Gif,
        ImageFormat::Bmp,
        ImageFormat::Tiff,
        ImageFormat::WebP,
    ]);
    let img = match format {
        ImageFormat::Jpeg => DynamicImage::ImageRgb8(img.to_rgb8()),
        ImageFormat::Gif | ImageFormat::WebP => DynamicImage::ImageRgba8(img.to_rgba8()),
        ImageFormat::Bmp => DynamicImage::ImageRgb8(img.to_rgb8()),
        _ => img,
    };
    encode(&img, format)
}

/// A freshly encoded random label PNG, 8- or 16-bit grey, 1..=40 a side.
fn fresh_label_png(rng: &mut Rng) -> Vec<u8> {
    let (w, h) = (rng.range(1, 40) as u32, rng.range(1, 40) as u32);
    let values: Vec<u16> = (0..w * h)
        .map(|_| *rng.pick(&[0, 1, 2, 3, 4, 5, 6, 7, 255, 65_535]))
        .collect();
    let img = if rng.one_in(2) {
        DynamicImage::ImageLuma8(image::GrayImage::from_fn(w, h, |x, y| {
            image::Luma([values[(y * w + x) as usize].min(255) as u8])
        }))
    } else {
        DynamicImage::ImageLuma16(image::ImageBuffer::from_fn(w, h, |x, y| {
            image::Luma([values[(y * w + x) as usize]])
        }))
    };
    encode(&img, ImageFormat::Png)
}

/// Half the time nothing, else one byte changed (PNG CRCs made right again).
fn mutate_lightly(rng: &mut Rng, mut v: Vec<u8>) -> Vec<u8> {
    if rng.one_in(2) && !v.is_empty() {
        let i = rng.below(v.len());
        v[i] = rng.next_u64() as u8;
        if v.starts_with(b"\x89PNG") {
            fix_png_crcs(&mut v);
        }
    }
    v
}

fn check_image(bytes: &[u8]) -> Result<Verdict, String> {
    match decode_image(bytes) {
        Ok(img) => {
            let (w, h) = img.dimensions();
            if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE || u64::from(w) * u64::from(h) > MAX_PIXELS {
                return Err(format!("decoded a {w}×{h} image, outside the limits"));
            }
            Ok(Verdict::Deep)
        }
        Err(e) => non_empty_error(&e),
    }
}

#[test]
fn fuzz_image() {
    let seeds = image_seeds();
    for s in &seeds {
        let img = decode_image(s).expect("a seed decodes");
        assert!(matches!(img.dimensions(), (13, 9) | (1, 1)), "{:?}", img.dimensions());
    }
    let report = run(
        "image",
        cheap_iters(SHORT_ITERS),
        time_limit(1),
        |rng, _| {
            let seed = rng.pick(&seeds).clone();
            if rng.one_in(3) {
                {
                    let fresh = fresh_image(rng);
                    mutate_lightly(rng, fresh)
                }
            } else {
                mutate_image(rng, &seed, &seeds)
            }
        },
        check_image,
    );
    report.assert_clean("image");
}

fn label_png_seeds() -> Vec<Vec<u8>> {
    let labels = image::GrayImage::from_fn(16, 12, |x, y| {
        image::Luma([if x < 2 { 255 } else { ((x / 4 + y / 3) % 7) as u8 }])
    });
    let wide = image::ImageBuffer::<image::Luma<u16>, _>::from_fn(9, 7, |x, y| image::Luma([(x * 1000 + y) as u16]));
    let mut seeds = vec![
        encode(&DynamicImage::ImageLuma8(labels.clone()), ImageFormat::Png),
        encode(&DynamicImage::ImageLuma16(wide), ImageFormat::Png),
        encode(&DynamicImage::ImageRgb8(picture()), ImageFormat::Png),
        encode(
            &DynamicImage::ImageLumaA8(DynamicImage::ImageLuma8(labels).to_luma_alpha8()),
            ImageFormat::Png,
        ),
    ];
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/miou/gt");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&fixtures)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    seeds.extend(names.iter().map(|p| std::fs::read(p).unwrap()));
    seeds
}

#[test]
fn fuzz_label_png() {
    let seeds = label_png_seeds();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("label.png");
    let check = |bytes: &[u8]| -> Result<Verdict, String> {
        std::fs::write(&path, bytes).map_err(|e| format!("write the input: {e}"))?;
        match load_label_png(&path) {
            Ok((w, h, values)) => {
                if w == 0
                    || h == 0
                    || w > MAX_SIDE
                    || h > MAX_SIDE
                    || values.len() as u64 != u64::from(w) * u64::from(h)
                {
                    return Err(format!("a {w}×{h} label map with {} values", values.len()));
                }
                // Scored against itself: a clear refusal of values beyond the classes, or a report.
                let mut acc = Accumulator::new(7, Some(255)).map_err(|e| e.to_string())?;
                if acc.add(&values, &values).is_ok() {
                    let _ = acc.finish().to_json();
                }
                Ok(Verdict::Deep)
            }
            Err(e) => {
                let m = e.to_string();
                if !m.contains("label.png") {
                    return Err(format!("the error does not name the file: {m}"));
                }
                Ok(Verdict::Pass)
            }
        }
    };
    // The grey seeds are label maps; the RGB and grey + alpha ones are refused.
    for (s, ok) in seeds.iter().zip([true, true, false, false]) {
        std::fs::write(&path, s).unwrap();
        assert_eq!(load_label_png(&path).is_ok(), ok);
    }
    let report = run(
        "label_png",
        cheap_iters(SHORT_ITERS),
        time_limit(1),
        |rng, _| {
            let seed = rng.pick(&seeds).clone();
            if rng.one_in(3) {
                {
                    let fresh = fresh_label_png(rng);
                    mutate_lightly(rng, fresh)
                }
            } else {
                mutate_image(rng, &seed, &seeds)
            }
        },
        check,
    );
    report.assert_clean("label_png");
}

// --- 3b. a `--labels` value → classes ----------------------------------------------------------

/// `parse_labels` on bytes: the first byte picks inline (even) or a label file (odd, the rest is
/// the file's text).
#[cfg(feature = "model")]
fn check_labels_spec(bytes: &[u8]) -> Result<Verdict, String> {
    use diffcut::naming::{parse_labels, Labels};
    let Some((&mode, rest)) = bytes.split_first() else {
        return Ok(Verdict::Pass);
    };
    let text = String::from_utf8_lossy(rest).into_owned();
    let parsed = if mode % 2 == 0 {
        parse_labels(&text, |_| Err(diffcut::Error::Model("no file".into())))
    } else {
        parse_labels("@labels.txt", |_| Ok(text.clone()))
    };
    match parsed {
        Err(e) => non_empty_error(&e),
        Ok(Labels::Set(_)) => Ok(Verdict::Deep),
        Ok(Labels::Custom(classes)) => {
            if classes.is_empty()
                || classes
                    .iter()
                    .any(|c| c.is_empty() || c.iter().any(|s| s.trim().is_empty()))
            {
                return Err(format!("accepted an empty class or name: {classes:?}"));
            }
            let prompts = diffcut::model::clip::labels::prompts(&classes);
            let synonyms: usize = classes.iter().map(Vec::len).sum();
            if prompts.len() != 14 * synonyms {
                return Err(format!("{} prompts for {synonyms} synonyms", prompts.len()));
            }
            Ok(Verdict::Deep)
        }
    }
}

#[cfg(feature = "model")]
#[test]
fn fuzz_labels() {
    let seeds: Vec<Vec<u8>> = [
        "\0voc",
        "\0cat;dog,puppy;grass",
        "\x01background,bg\n1:aeroplane, airplane\n2:sky\r\n",
        "\0chat noir; 猫 ,ネコ;🐈‍⬛",
        "\x01\n\n;;,\n",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    assert!(seeds
        .iter()
        .take(4)
        .all(|s| matches!(check_labels_spec(s), Ok(Verdict::Deep))));
    let report = run(
        "labels",
        cheap_iters(SHORT_ITERS),
        time_limit(1),
        |rng, _| {
            let seed = rng.pick(&seeds).clone();
            let mut v = mutate_bytes(rng, &seed, &seeds);
            if rng.one_in(8) {
                // Long lists: the class and synonym limits.
                let unit = if rng.one_in(2) { &b"x;"[..] } else { &b"y,"[..] };
                v.extend(unit.repeat(rng.range(500, 5000)));
            }
            v
        },
        check_labels_spec,
    );
    report.assert_clean("labels");
}

// --- 3c. the page's helper worker: a subtree and a job's parameters as flat f64 arrays ----------

fn floats(bytes: &[u8]) -> Vec<f64> {
    bytes
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

fn check_wire(bytes: &[u8]) -> Result<Verdict, String> {
    use diffcut::ncut::wire::{decode_nodes, encode_nodes, parse_job_params};
    let data = floats(bytes);
    if let Err(e) = parse_job_params(&data[..data.len().min(5)]) {
        non_empty_error(&e)?;
    }
    match decode_nodes(&data) {
        Err(e) => non_empty_error(&e),
        Ok(nodes) => {
            let again =
                decode_nodes(&encode_nodes(&nodes)).map_err(|e| format!("re-encoded nodes do not decode: {e}"))?;
            if again != nodes {
                return Err("re-encoded nodes decode to other nodes".into());
            }
            Ok(Verdict::Deep)
        }
    }
}

#[test]
fn fuzz_wire() {
    use diffcut::ncut::wire::encode_nodes;
    use diffcut::ncut::{affinity, grow_subtree, SubtreeJob};
    let seeds: Vec<Vec<f64>> = [(6, 7, 1u64), (9, 8, 2)]
        .iter()
        .map(|&(h, w, seed)| {
            let f = diffcut::synth::smooth_field(h, w, 8, 2.0, seed);
            let aff = affinity(&f.data, h * w, 8, 10.0).unwrap();
            let job = SubtreeJob {
                excluded: vec![false; h * w],
                w: aff.w,
                depth: 1,
                opts: TreeOptions::default(),
            };
            encode_nodes(&grow_subtree(job).unwrap())
        })
        .collect();
    let bytes = |v: &[f64]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    assert!(seeds.iter().all(|s| matches!(check_wire(&bytes(s)), Ok(Verdict::Deep))));
    let report = run(
        "wire",
        cheap_iters(SHORT_ITERS),
        time_limit(1),
        |rng, _| {
            let mut v = rng.pick(&seeds).clone();
            for _ in 0..rng.range(1, 4) {
                let at = rng.below(v.len());
                match rng.below(4) {
                    0 => v.truncate(at),
                    1 => {
                        let special = [
                            -1.0,
                            0.0,
                            1.0,
                            2.0,
                            0.5,
                            f64::NAN,
                            f64::INFINITY,
                            1e300,
                            4294967295.0,
                            v.len() as f64,
                        ];
                        v[at] = *rng.pick(&special);
                    }
                    2 => v[at] += if rng.one_in(2) { 1.0 } else { -1.0 },
                    _ => {
                        let end = rng.range(at, v.len());
                        let part = v[at..end].to_vec();
                        v.splice(at..at, part);
                    }
                }
                if v.is_empty() {
                    break;
                }
            }
            bytes(&v)
        },
        check_wire,
    );
    report.assert_clean("wire");
}

// --- 4. a model folder → load → features at a tiny size -------------------------------------

#[cfg(feature = "model")]
mod model_folder {
    use super::*;

    /// A fixture model folder: every file its manifest lists, by name, plus the manifest.
    fn model_folder(model: &str, dtype: &str) -> Vec<(String, Vec<u8>)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/model")
            .join(model)
            .join(dtype);
        let manifest = std::fs::read(dir.join("manifest.json")).unwrap();
        let m: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
        let mut files = vec![("manifest.json".to_string(), manifest)];
        for f in m["files"].as_array().unwrap() {
            let name = f["name"].as_str().unwrap().to_string();
            files.push((name.clone(), std::fs::read(dir.join(&name)).unwrap()));
        }
        files
    }

    fn sha256_hex(bytes: &[u8]) -> String {
        use sha2::{Digest, Sha256};
        Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Makes the manifest's `bytes` and `sha256` of `name` match its (mutated) contents, so that the
    /// parser behind the checksum sees the mutation.
    fn reseal(files: &mut [(String, Vec<u8>)], name: &str) {
        let Some(data) = files.iter().find(|(n, _)| n == name).map(|(_, d)| d.clone()) else {
            return;
        };
        let Some((_, manifest)) = files.iter_mut().find(|(n, _)| n == "manifest.json") else {
            return;
        };
        let Ok(mut m) = serde_json::from_slice::<serde_json::Value>(manifest) else {
            return;
        };
        if let Some(list) = m.get_mut("files").and_then(|f| f.as_array_mut()) {
            for f in list.iter_mut().filter(|f| f["name"] == name) {
                f["bytes"] = data.len().into();
                f["sha256"] = sha256_hex(&data).into();
            }
        }
        *manifest = serde_json::to_vec(&m).unwrap();
    }

    /// A random leaf (number, string, bool, null) of a JSON value, replaced by a wild one; or an
    /// array shortened, lengthened or emptied; or an object key removed.
    fn mutate_json_value(rng: &mut Rng, v: &mut serde_json::Value) {
        use serde_json::Value;
        let mut paths: Vec<Vec<serde_json::Value>> = Vec::new();
        fn walk(v: &Value, at: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
            out.push(at.clone());
            match v {
                Value::Array(a) => {
                    for (i, x) in a.iter().enumerate() {
                        at.push(i.into());
                        walk(x, at, out);
                        at.pop();
                    }
                }
                Value::Object(o) => {
                    for (k, x) in o {
                        at.push(k.clone().into());
                        walk(x, at, out);
                        at.pop();
                    }
                }
                _ => {}
            }
        }
        walk(v, &mut Vec::new(), &mut paths);
        let path = rng.pick(&paths).clone();
        let mut node = &mut *v;
        for step in &path {
            node = match step {
                Value::Number(i) => &mut node[i.as_u64().unwrap() as usize],
                Value::String(k) => &mut node[k.as_str()],
                _ => unreachable!(),
            };
        }
        let wild: Value = match rng.below(12) {
            0 => Value::from(rng.wild_u64()),
            1 => Value::from(-1),
            2 => Value::from(rng.wild_f64()),
            3 => Value::from(0),
            4 => Value::from(*rng.pick(&["", "../x", "a//b", "config.json", "noise", "weights", "q8", "F64", "I8"])),
            5 => Value::Null,
            6 => Value::from(true),
            7 => Value::Array(vec![]),
            8 => Value::from(rng.range(1, 8) as u64 * 16),
            _ => Value::Null, // a structural change below
        };
        match node {
            Value::Array(a) if rng.one_in(2) && !a.is_empty() => match rng.below(3) {
                0 => {
                    a.pop();
                }
                1 => {
                    let last = a[a.len() - 1].clone();
                    a.push(last);
                }
                _ => {
                    let last = a.len() - 1;
                    a.swap(0, last)
                }
            },
            Value::Object(o) if rng.one_in(2) && !o.is_empty() => {
                let key = o.keys().nth(rng.below(o.len())).unwrap().clone();
                o.remove(&key);
            }
            _ if wild.is_null() && rng.one_in(2) => {
                if let Some(n) = node.as_u64() {
                    *node = Value::from(n.wrapping_mul(rng.range(2, 4) as u64));
                }
            }
            _ => *node = wild,
        }
    }

    /// A safetensors shard with its header JSON mutated structurally (tensor shapes, dtypes, data
    /// offsets, names), re-serialized with a consistent (or, sometimes, a wrong) length field.
    fn mutate_safetensors_header(rng: &mut Rng, shard: &[u8]) -> Vec<u8> {
        if shard.len() < 8 {
            return shard.to_vec();
        }
        let n = u64::from_le_bytes(shard[..8].try_into().unwrap()) as usize;
        let Some(header) = shard.get(8..8 + n) else {
            return shard.to_vec();
        };
        let Ok(mut h) = serde_json::from_slice::<serde_json::Value>(header) else {
            return shard.to_vec();
        };
        let names: Vec<String> = h.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
        if names.is_empty() {
            return shard.to_vec();
        }
        let name = rng.pick(&names).clone();
        match rng.below(7) {
            0 => {
                let dims = rng.range(0, 4);
                h[&name]["shape"] = (0..dims).map(|_| rng.wild_u64()).collect::<Vec<u64>>().into();
            }
            1 => h[&name]["dtype"] = (*rng.pick(&["F32", "F16", "BF16", "I8", "U8", "F64", "I64", "BOOL", "X"])).into(),
            2 => {
                let a = rng.wild_u64();
                let b = if rng.one_in(2) { a } else { rng.wild_u64() };
                h[&name]["data_offsets"] = vec![a, b].into();
            }
            3 => {
                let v = h[&name].take();
                let o = h.as_object_mut().unwrap();
                o.remove(&name);
                let renamed = match rng.below(4) {
                    0 => format!("{name}.q8"),
                    1 => format!("{name}.q4"),
                    2 => name.replace(".scales", ".q8"),
                    _ => format!("{name}x"),
                };
                o.insert(renamed, v);
            }
            4 => {
                h.as_object_mut().unwrap().remove(&name);
            }
            5 => {
                // A tensor the converter never writes: empty, quantized with or without its
                // scales, or scales alone; its data (if any) appended after the last tensor.
                let end = h
                    .as_object()
                    .unwrap()
                    .values()
                    .filter_map(|t| t["data_offsets"][1].as_u64())
                    .max()
                    .unwrap_or(0);
                let (rows, cols) = (rng.below(3) as u64, *rng.pick(&[0u64, 16, 32]));
                let mut extra = vec![];
                match rng.below(4) {
                    0 => extra.push(("extra.weight", "F32", vec![rows], rows * 4)),
                    1 => {
                        extra.push(("extra.weight.q8", "I8", vec![rows, cols], rows * cols));
                        extra.push((
                            "extra.weight.scales",
                            "F32",
                            vec![rows * cols / 32],
                            rows * cols / 32 * 4,
                        ));
                    }
                    2 => extra.push(("extra.weight.q4", "U8", vec![rows, cols / 2], rows * cols / 2)),
                    _ => extra.push(("extra.weight.scales", "F32", vec![rows], rows * 4)),
                }
                let mut at = end;
                for (key, dtype, shape, bytes) in extra {
                    h[key] = serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [at, at + bytes]});
                    at += bytes;
                }
                let text = serde_json::to_vec(&h).unwrap();
                let mut out = (text.len() as u64).to_le_bytes().to_vec();
                out.extend_from_slice(&text);
                out.extend_from_slice(&shard[8 + n..]);
                out.resize(out.len() + (at - end) as usize, 0);
                return out;
            }
            _ => mutate_json_value(rng, &mut h),
        }
        let text = serde_json::to_vec(&h).unwrap();
        let mut out = Vec::with_capacity(shard.len());
        let len = if rng.one_in(8) {
            rng.wild_u64()
        } else {
            text.len() as u64
        };
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&text);
        out.extend_from_slice(&shard[8 + n..]);
        out
    }

    fn mutate_model(rng: &mut Rng, folder: &[(String, Vec<u8>)]) -> Vec<(String, Vec<u8>)> {
        let mut files = folder.to_vec();
        for _ in 0..rng.range(1, 2) {
            let names: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
            let manifest_at = names.iter().position(|n| n == "manifest.json");
            let reseal_it = !rng.one_in(8);
            match rng.below(9) {
                0 => {
                    if let Some(i) = manifest_at {
                        files[i].1 = mutate_bytes(rng, &files[i].1, &[]);
                    }
                }
                1 => {
                    if let Some(i) = manifest_at {
                        if let Ok(mut m) = serde_json::from_slice::<serde_json::Value>(&files[i].1) {
                            mutate_json_value(rng, &mut m);
                            files[i].1 = serde_json::to_vec(&m).unwrap();
                        }
                    }
                }
                2 | 3 => {
                    // config.json, structurally (most of the time) or byte by byte.
                    if let Some(i) = names.iter().position(|n| n == "config.json") {
                        if let (true, Ok(mut c)) =
                            (!rng.one_in(4), serde_json::from_slice::<serde_json::Value>(&files[i].1))
                        {
                            mutate_json_value(rng, &mut c);
                            files[i].1 = serde_json::to_vec(&c).unwrap();
                        } else {
                            files[i].1 = mutate_bytes(rng, &files[i].1, &[]);
                        }
                        if reseal_it {
                            reseal(&mut files, "config.json");
                        }
                    }
                }
                4..=6 => {
                    // A shard: its header, its length field, truncation, or its data.
                    let shards: Vec<usize> = (0..files.len())
                        .filter(|&k| files[k].0.ends_with(".safetensors"))
                        .collect();
                    if let Some(&k) = (!shards.is_empty()).then(|| rng.pick(&shards)) {
                        let data = &files[k].1;
                        files[k].1 = match rng.below(5) {
                            0 | 1 => mutate_safetensors_header(rng, data),
                            2 => {
                                let keep = rng.below(data.len());
                                data[..keep].to_vec()
                            }
                            3 => {
                                // Bytes of the header (the first 4 KiB or so).
                                let head = data.len().min(4096);
                                let mut v = mutate_bytes(rng, &data[..head], &[]);
                                v.extend_from_slice(&data[head..]);
                                v
                            }
                            _ => {
                                // Weight values: NaN, inf, huge.
                                let mut v = data.clone();
                                let at = rng.below(v.len().saturating_sub(4).max(1));
                                let x = rng.wild_f64() as f32;
                                v[at..(at + 4).min(data.len())]
                                    .copy_from_slice(&x.to_le_bytes()[..(data.len() - at).min(4)]);
                                v
                            }
                        };
                        let name = files[k].0.clone();
                        if reseal_it {
                            reseal(&mut files, &name);
                        }
                    }
                }
                7 => {
                    // Another file: the noise, a CLIP folder's label set (JSON + .npy) or its
                    // vocabulary (gzip).
                    let others: Vec<usize> = (0..files.len())
                        .filter(|&k| {
                            let n = &files[k].0;
                            n != "manifest.json" && n != "config.json" && !n.ends_with(".safetensors")
                        })
                        .collect();
                    if let Some(&i) = (!others.is_empty()).then(|| rng.pick(&others)) {
                        let name = files[i].0.clone();
                        files[i].1 = if name.ends_with(".npy") {
                            mutate_npy_header(rng, &files[i].1)
                        } else if let (true, Ok(mut v)) = (
                            name.ends_with(".json") && !rng.one_in(4),
                            serde_json::from_slice::<serde_json::Value>(&files[i].1),
                        ) {
                            mutate_json_value(rng, &mut v);
                            serde_json::to_vec(&v).unwrap()
                        } else if rng.one_in(3) {
                            let keep = rng.below(files[i].1.len().max(1));
                            files[i].1[..keep].to_vec()
                        } else {
                            mutate_bytes(rng, &files[i].1, &[])
                        };
                        if reseal_it {
                            reseal(&mut files, &name);
                        }
                    }
                }
                _ => {
                    // A file missing from the folder.
                    let k = rng.below(files.len());
                    files.remove(k);
                }
            }
        }
        files
    }

    /// Loads a packed folder the way `DiffusionModel::load_dir` does (manifest, then every file it
    /// lists) and runs it at the size stored as `#size` (`#host`: dequantize on the host).
    fn check_model_folder(bytes: &[u8], device: &burn::tensor::Device, img: &RgbImage) -> Result<Verdict, String> {
        use diffcut::model::{ModelLoader, Noise};
        let files = unpack(bytes).ok_or("not a packed folder")?;
        let get = |name: &str| files.iter().find(|(n, _)| n == name).map(|(_, d)| d.as_slice());
        let size = get("#size").map_or(128, |b| u32::from_le_bytes(b.try_into().unwrap_or([0, 0, 0, 128])));
        let host_dequantize = get("#host").is_some_and(|b| b == [1]);
        let named = |e: diffcut::Error| non_empty_error(&e);
        let Some(manifest) = get("manifest.json") else {
            return Ok(Verdict::Pass);
        };
        let mut loader = match ModelLoader::new(manifest, device, host_dequantize) {
            Ok(l) => l,
            Err(e) => return named(e),
        };
        for name in loader.pending() {
            let Some(data) = get(&name) else {
                return Ok(Verdict::Pass); // the folder lacks it: the CLI says so (an I/O error)
            };
            if let Err(e) = loader.add_file(&name, data) {
                return named(e);
            }
        }
        let model = match loader.finish() {
            Ok(m) => m,
            Err(e) => return named(e),
        };
        let f = match pollster::block_on(model.features(img, size, &Noise::Zero)) {
            Ok(f) => f,
            Err(e) => return named(e),
        };
        let g = model.config.grid(size);
        let c = model.config.feature_channels();
        if [f.h, f.w, f.c] != [g, g, c] || f.data.len() != g * g * c {
            return Err(format!(
                "features [{}, {}, {}] ({} values), expected [{g}, {g}, {c}]",
                f.h,
                f.w,
                f.c,
                f.data.len()
            ));
        }
        Ok(Verdict::Deep)
    }

    /// A CLIP folder's parts to load, stored as `#parts` (0 image, 1 text, 2 all).
    fn clip_parts(files: &[(String, Vec<u8>)]) -> diffcut::model::clip::Parts {
        use diffcut::model::clip::Parts;
        match files
            .iter()
            .find(|(n, _)| n == "#parts")
            .map(|(_, d)| d.first().copied())
        {
            Some(Some(1)) => Parts::Text,
            Some(Some(2)) => Parts::All,
            _ => Parts::Image,
        }
    }

    /// Loads a packed CLIP folder as `ClipModel::load_dir` does, then names the fixture's segments
    /// (image part) and embeds texts (text part).
    fn check_clip_folder(bytes: &[u8], device: &burn::tensor::Device, img: &RgbImage) -> Result<Verdict, String> {
        use diffcut::model::clip::{ClipLoader, LabelSet, Labels, Parts};
        let files = unpack(bytes).ok_or("not a packed folder")?;
        let parts = clip_parts(&files);
        let get = |name: &str| files.iter().find(|(n, _)| n == name).map(|(_, d)| d.as_slice());
        let named = |e: diffcut::Error| non_empty_error(&e);
        let Some(manifest) = get("manifest.json") else {
            return Ok(Verdict::Pass);
        };
        let mut loader = match ClipLoader::new(manifest, device, false, parts) {
            Ok(l) => l,
            Err(e) => return named(e),
        };
        for name in loader.pending() {
            let Some(data) = get(&name) else {
                return Ok(Verdict::Pass);
            };
            if let Err(e) = loader.add_file(&name, data) {
                return named(e);
            }
        }
        let model = match loader.finish() {
            Ok(m) => m,
            Err(e) => return named(e),
        };
        if parts != Parts::Text {
            let labels: Vec<u32> = (0..img.width() * img.height()).map(|i| (i % 7) / 3).collect();
            let dims = [img.height() as usize, img.width() as usize];
            let result = pollster::block_on(async {
                let classifier = model.classifier(&Labels::Set(LabelSet::Voc)).await?;
                model.name_segments(img, &labels, dims, &classifier, 64).await
            });
            match result {
                Ok(names) if names.len() == 3 && names.iter().all(|n| n.scores.len() == 21) => {}
                Ok(names) => return Err(format!("{} names, expected 3 with 21 scores each", names.len())),
                Err(e) => return named(e),
            }
        }
        if parts != Parts::Image {
            let texts = ["a photo of a cat.".to_string(), "&lt;ü&gt; 猫 🐈".to_string()];
            match pollster::block_on(model.encode_text(&texts)) {
                Ok(e) if e.len() == 2 * model.config.embed_dim => {}
                Ok(e) => return Err(format!("{} values for 2 texts", e.len())),
                Err(e) => return named(e),
            }
        }
        Ok(Verdict::Deep)
    }

    #[test]
    fn fuzz_clip_folder() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/clip/tiny-q8");
        let manifest = std::fs::read(dir.join("manifest.json")).unwrap();
        let m: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
        let mut base = vec![("manifest.json".to_string(), manifest)];
        for f in m["files"].as_array().unwrap() {
            let name = f["name"].as_str().unwrap().to_string();
            base.push((name.clone(), std::fs::read(dir.join(&name)).unwrap()));
        }
        let device = diffcut::model::native_device(false).unwrap();
        let img = RgbImage::from_fn(24, 16, |x, y| image::Rgb([(x * 10) as u8, (y * 15) as u8, 128]));
        let with_parts = |files: Vec<(String, Vec<u8>)>, parts: u8| {
            let mut files = files;
            files.push(("#parts".into(), vec![parts]));
            pack(&files)
        };
        for parts in 0..3 {
            assert!(
                matches!(
                    check_clip_folder(&with_parts(base.clone(), parts), &device, &img),
                    Ok(Verdict::Deep)
                ),
                "the fixture CLIP does not load (parts {parts})"
            );
        }
        let report = run(
            "clip",
            iters("FUZZ_CLIP_ITERS", 24),
            time_limit(3),
            |rng, _| {
                let parts = rng.below(3) as u8;
                with_parts(mutate_model(rng, &base), parts)
            },
            |bytes| check_clip_folder(bytes, &device, &img),
        );
        report.assert_clean("clip");
    }

    #[test]
    fn fuzz_model_folder() {
        let bases = [
            (model_folder("ssd-tiny", "q8"), 128u32),
            (model_folder("sdxl-tiny", "f32"), 160u32),
        ];
        let device = diffcut::model::native_device(false).unwrap();
        let img = image::open(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/model/ssd-tiny/image.png"))
            .unwrap()
            .to_rgb8();
        let with_options = |files: Vec<(String, Vec<u8>)>, size: u32, host: bool| {
            let mut files = files;
            files.push(("#size".into(), size.to_le_bytes().to_vec()));
            files.push(("#host".into(), vec![u8::from(host)]));
            pack(&files)
        };
        for (folder, size) in &bases {
            let packed = with_options(folder.clone(), *size, false);
            assert!(
                matches!(check_model_folder(&packed, &device, &img), Ok(Verdict::Deep)),
                "a fixture model does not load"
            );
        }
        let report = run(
            "model",
            iters("FUZZ_MODEL_ITERS", 24),
            time_limit(3),
            |rng, _| {
                let (folder, size) = rng.pick(&bases);
                with_options(mutate_model(rng, folder), *size, rng.one_in(2))
            },
            |bytes| check_model_folder(bytes, &device, &img),
        );
        report.assert_clean("model");
    }
}

// --- 5. the CLI on mutated input files --------------------------------------------------------

const SENTINEL: &[u8] = b"a pre-existing output file that a failed run must leave alone\n";

/// The kinds of CLI run: the command, its input file's name, and the output it writes.
const CLI_KINDS: [&str; 5] = ["ncut", "recut", "miou", "segment", "cutout"];

fn cli_seeds() -> Vec<(usize, Vec<u8>)> {
    let mut rng = Rng::new(5);
    let mut seeds = Vec::new();
    for (h, w, c) in [(6, 6, 4), (8, 5, 3)] {
        seeds.push((0, npy::encode_f32(&[h, w, c], &clustered(&mut rng, h, w, c))));
    }
    for mode in [Mode::Official, Mode::Clean] {
        seeds.push((1, serde_json::to_vec(&grow_tree(&mut rng, mode)).unwrap()));
    }
    let pred = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/miou/pred/a_more_clusters.png");
    seeds.push((2, std::fs::read(pred).unwrap()));
    for (i, image) in image_seeds().into_iter().enumerate() {
        if i != 2 && i != 3 {
            seeds.push((3, image.clone()));
            seeds.push((4, image));
        }
    }
    seeds
}

/// Runs `diffcut` with a deadline; `None` when it had to be killed.
fn run_with_deadline(args: &[&str], deadline: Duration) -> Option<(Option<i32>, String)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_diffcut"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start diffcut");
    let t0 = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for diffcut") {
            let mut err = String::new();
            use std::io::Read;
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            return Some((status.code(), err));
        }
        if t0.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn check_cli(bytes: &[u8]) -> Result<Verdict, String> {
    let (&head, input) = bytes.split_first().ok_or("empty input")?;
    let kind = (head & 0x7f) as usize % CLI_KINDS.len();
    let d = tempfile::tempdir().map_err(|e| e.to_string())?;
    let s = |p: &Path| p.to_str().unwrap().to_string();
    // Bit 7: `ncut` and `segment` also get a `--tree` path they cannot write (a folder), `cutout`
    // such a `--mask`, so the run fails after the first output could have been written.
    let blocked = (head & 0x80 != 0 && matches!(CLI_KINDS[kind], "ncut" | "segment" | "cutout")).then(|| {
        let p = d.path().join("blocked");
        std::fs::create_dir_all(&p).unwrap();
        s(&p)
    });
    let (mut args, out): (Vec<String>, PathBuf) = match CLI_KINDS[kind] {
        "ncut" | "recut" => {
            let name = if kind == 0 { "f.npy" } else { "t.json" };
            let file = d.path().join(name);
            std::fs::write(&file, input).unwrap();
            let out = d.path().join("labels.npy");
            let mut args = vec![CLI_KINDS[kind].to_string(), s(&file), "--tau".into(), "0.5".into()];
            if kind == 0 {
                args.extend(["--alpha".into(), "10".into()]);
            }
            args.extend(["--out".into(), s(&out)]);
            (args, out)
        }
        "miou" => {
            let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/miou");
            let (gt, pred) = (d.path().join("gt"), d.path().join("pred"));
            std::fs::create_dir_all(&gt).unwrap();
            std::fs::create_dir_all(&pred).unwrap();
            std::fs::copy(fixtures.join("gt/a_more_clusters.png"), gt.join("a.png")).unwrap();
            std::fs::write(pred.join("a.png"), input).unwrap();
            let out = d.path().join("scores.json");
            let args = [
                "miou",
                "--gt",
                &s(&gt),
                "--pred",
                &s(&pred),
                "--classes",
                "7",
                "--ignore",
                "255",
                "--json",
                &s(&out),
            ]
            .map(String::from)
            .to_vec();
            (args, out)
        }
        "cutout" => {
            let file = d.path().join("image.bin");
            std::fs::write(&file, input).unwrap();
            let out = d.path().join("cut.png");
            // The top-left pixel: inside any image that decodes (tests/cli.rs refuses points outside).
            let point = "0,0".to_string();
            let args = [
                "cutout",
                &s(&file),
                "--point",
                &point,
                "--grid",
                "8",
                "--refine",
                "none",
                "--out",
                &s(&out),
            ]
            .map(String::from)
            .to_vec();
            (args, out)
        }
        _ => {
            let file = d.path().join("image.bin");
            std::fs::write(&file, input).unwrap();
            let out = d.path().join("mask.png");
            let args = [
                "segment",
                &s(&file),
                "--grid",
                "8",
                "--refine",
                "none",
                "--out",
                &s(&out),
            ]
            .map(String::from)
            .to_vec();
            (args, out)
        }
    };
    if let Some(b) = &blocked {
        let flag = if CLI_KINDS[kind] == "cutout" {
            "--mask"
        } else {
            "--tree"
        };
        args.extend([flag.into(), b.clone()]);
    }
    std::fs::write(&out, SENTINEL).unwrap();
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let Some((code, err)) = run_with_deadline(&argv, time_limit(2)) else {
        return Err(format!("diffcut {} ran past {:?}", argv[0], time_limit(2)));
    };
    if err.contains("panicked") {
        return Err(format!("diffcut {} panicked: {err}", argv[0]));
    }
    let written = std::fs::read(&out).unwrap_or_default();
    match code {
        Some(1) if written == SENTINEL => Ok(Verdict::Pass),
        Some(1) => Err(format!(
            "diffcut {} failed ({}) but changed the pre-existing {} ({} bytes now)",
            argv[0],
            err.trim(),
            out.file_name().unwrap().to_string_lossy(),
            written.len()
        )),
        Some(0) if blocked.is_some() => Err(format!("diffcut {} succeeded without writing its --tree", argv[0])),
        Some(0) => {
            let valid = match kind {
                0 | 1 => {
                    npy::read_labels(&written, 2).is_ok_and(|(shape, l)| shape.len() == 2 && l.iter().all(|&v| v >= 0))
                }
                2 => serde_json::from_slice::<serde_json::Value>(&written).is_ok_and(|v| v["miou"].is_number()),
                4 => image::load_from_memory(&written).is_ok_and(|i| i.color() == image::ColorType::Rgba8),
                _ => load_label_png(&out).is_ok(),
            };
            if valid {
                Ok(Verdict::Deep)
            } else {
                Err(format!("diffcut {} succeeded but its output is not valid", argv[0]))
            }
        }
        other => Err(format!("diffcut {} exited with {other:?}: {}", argv[0], err.trim())),
    }
}

#[test]
fn fuzz_cli() {
    let seeds = cli_seeds();
    let others: Vec<Vec<u8>> = seeds.iter().map(|(_, b)| b.clone()).collect();
    for (kind, seed) in &seeds {
        let mut input = vec![*kind as u8];
        input.extend_from_slice(seed);
        assert!(
            matches!(check_cli(&input), Ok(Verdict::Deep)),
            "diffcut {} on an unmutated input",
            CLI_KINDS[*kind]
        );
    }
    let report = run(
        "cli",
        iters("FUZZ_CLI_ITERS", 60),
        time_limit(3),
        |rng, _| {
            let (kind, seed) = rng.pick(&seeds);
            let mutated = match kind {
                0 if rng.one_in(2) => mutate_npy_header(rng, seed),
                1 if rng.one_in(2) => {
                    let mut t: SegmentTree = serde_json::from_slice(seed).unwrap();
                    mutate_tree(rng, &mut t);
                    serde_json::to_vec(&t).unwrap()
                }
                _ => mutate_image(rng, seed, &others),
            };
            let mut input = vec![*kind as u8 | if rng.one_in(4) { 0x80 } else { 0 }];
            input.extend(mutated);
            input
        },
        check_cli,
    );
    report.assert_clean("cli");
}

// --- the harness itself -------------------------------------------------------------------

/// With `FUZZ_SELF_TEST` set, one input that runs away (`alloc`: 2 GiB at once; `hang`: sleeps
/// past the time limit); the next test runs this one in a child process and expects it stopped.
#[test]
fn runaway_input() {
    let Ok(kind) = std::env::var("FUZZ_SELF_TEST") else {
        return;
    };
    let report = run(
        "selftest",
        1,
        time_limit(1),
        |_, _| kind.clone().into_bytes(),
        |input| {
            if input == b"alloc" {
                let v = vec![1u8; 2 << 30];
                std::hint::black_box(&v);
            } else {
                std::thread::sleep(Duration::from_secs(600));
            }
            Ok(Verdict::Pass)
        },
    );
    report.assert_clean("selftest");
}

#[test]
fn the_watchdog_and_the_memory_budget_stop_a_runaway_input_with_a_reproducer() {
    for kind in ["alloc", "hang"] {
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "runaway_input", "--nocapture", "--test-threads", "1"])
            .env("FUZZ_SELF_TEST", kind)
            .env("FUZZ_TIMEOUT_S", "1")
            .env_remove("FUZZ_REPLAY")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{kind}: {err}");
        let why = if kind == "alloc" {
            "memory budget exceeded"
        } else {
            "ran for more than 1 s"
        };
        assert!(err.contains(why), "{kind}: {err}");
        let path = err
            .lines()
            .find_map(|l| l.strip_prefix("reproducer: "))
            .and_then(|l| l.split(' ').next())
            .unwrap_or_else(|| panic!("{kind}: no reproducer in {err}"));
        assert_eq!(std::fs::read(path).unwrap(), kind.as_bytes());
    }
}
