//! The browser benchmark: the WGSL recursive NCut beside the CPU path (both compiled to wasm, in
//! the same page) on smooth random fields, C = 1280, τ = 0.5, α = 10, with dispatch and readback
//! counts. Run with
//!
//! ```sh
//! cd wasm-tests && WASM_BINDGEN_TEST_TIMEOUT=3600 cargo test --release --features bench --test bench -- --nocapture
//! ```
//!
//! In CI's headless Chromium the WebGPU adapter is SwiftShader (a CPU), so these are software
//! floors, not GPU timings.
#![cfg(feature = "bench")]

use diffcut::gpu::segment_tree_gpu;
use diffcut::ncut::tree::TreeNode;
use diffcut::ncut::{
    affinity, affinity_shared, segment_tree, segment_tree_shared, wire, GramTile, Pending, SegmentTree, SubtreeHelper,
    SubtreeJob, TileHelper, TreeOptions,
};
use diffcut::synth::smooth_field;
use diffcut_wasm_tests::log;
use js_sys::{Float32Array, Float64Array, Promise, Uint32Array, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn now() -> f64 {
    js_sys::Date::now()
}

/// A checksum of a labelling that changes with any label moved (Σ (i + 1)·label_i).
fn checksum(labels: &[u32]) -> u64 {
    labels
        .iter()
        .enumerate()
        .map(|(i, &l)| (i as u64 + 1) * u64::from(l))
        .sum()
}

#[wasm_bindgen_test]
async fn ncut_cpu_and_gpu_in_the_browser() {
    let ctx = diffcut_wasm_tests::diffcut_gpu().await;
    log(&format!("adapter: {}", ctx.adapter));
    log("| grid | leaves CPU / GPU | CPU (wasm) | GPU (WebGPU) | levels | dispatches | readbacks |");
    let opts = TreeOptions {
        tau_max: 0.5,
        ..Default::default()
    };
    for g in [32usize, 48, 64] {
        let f = smooth_field(g, g, 1280, 3.0, 42);
        let t = now();
        let cpu = segment_tree(&f, 10.0, opts).unwrap();
        let t_cpu = now() - t;
        let t = now();
        let (gpu, stats) = segment_tree_gpu(&ctx, &f, 10.0, opts).await.unwrap();
        let t_gpu = now() - t;
        log(&format!(
            "| {g}² | {} / {} | {t_cpu:.0} ms | {t_gpu:.0} ms | {} | {} | {} |",
            cpu.leaves_at(0.5).unwrap().len(),
            gpu.leaves_at(0.5).unwrap().len(),
            stats.levels,
            stats.dispatches,
            stats.readbacks
        ));
    }
}

#[wasm_bindgen(inline_js = r#"
export function spawnGramWorker() {
  const glue = new URL("/wasm-bindgen-test.js", location.href).href;
  const wasm = new URL("/wasm-bindgen-test_bg.wasm", location.href).href;
  const src = `const ready = import("${glue}").then(async (m) => { await m.default({ module_or_path: "${wasm}" }); return m; });
self.onmessage = async (e) => {
  try {
    const m = await ready;
    const out = e.data.w ? m.bench_grow_subtree(e.data.w, e.data.excluded, e.data.params) : m.bench_gram_tiles(e.data.x, e.data.c, e.data.tiles);
    self.postMessage(out, [out.buffer]);
  } catch (err) {
    self.postMessage({ error: String(err && err.stack || err) });
  }
};`;
  return new Worker(URL.createObjectURL(new Blob([src], { type: "text/javascript" })), { type: "module" });
}
export function gramRequest(worker, x, c, tiles) {
  return new Promise((resolve, reject) => {
    worker.onmessage = (e) => (e.data instanceof Float32Array ? resolve(e.data) : reject(new Error(e.data.error)));
    worker.onerror = (e) => reject(new Error(e.message));
    worker.postMessage({ x, c, tiles }, [x.buffer, tiles.buffer]);
  });
}
export function subtreeRequest(worker, w, excluded, params) {
  return new Promise((resolve, reject) => {
    worker.onmessage = (e) => (e.data instanceof Float64Array ? resolve(e.data) : reject(new Error(e.data.error)));
    worker.onerror = (e) => reject(new Error(e.message));
    worker.postMessage({ w, excluded, params }, [w.buffer, excluded.buffer, params.buffer]);
  });
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = spawnGramWorker)]
    fn spawn_gram_worker() -> JsValue;
    #[wasm_bindgen(js_name = gramRequest)]
    fn gram_request(worker: &JsValue, x: Float32Array, c: u32, tiles: Uint32Array) -> Promise;
    #[wasm_bindgen(js_name = subtreeRequest)]
    fn subtree_request(worker: &JsValue, w: Float32Array, excluded: Uint8Array, params: Float64Array) -> Promise;
}

/// A second worker instantiating this test module (the page's helper runs the light module).
struct WorkerHelper(JsValue);

impl SubtreeHelper for WorkerHelper {
    fn start_subtree(&self, job: &SubtreeJob) -> Pending<Vec<TreeNode>> {
        let (excluded, params) = wire::encode_job(job);
        let p = subtree_request(
            &self.0,
            Float32Array::from(job.w.as_slice()),
            Uint8Array::from(excluded.as_slice()),
            Float64Array::from(&params[..]),
        );
        Box::pin(async move {
            let v = JsFuture::from(p)
                .await
                .map_err(|e| diffcut::Error::Helper(format!("{e:?}")))?;
            wire::decode_nodes(&Float64Array::from(v).to_vec())
        })
    }
}

impl TileHelper for WorkerHelper {
    fn start(&self, x: &[f32], _n: usize, c: usize, tiles: &[GramTile]) -> Pending<Vec<f32>> {
        let pairs = wire::encode_tiles(tiles);
        let p = gram_request(
            &self.0,
            Float32Array::from(x),
            c as u32,
            Uint32Array::from(pairs.as_slice()),
        );
        Box::pin(async move {
            let v = JsFuture::from(p)
                .await
                .map_err(|e| diffcut::Error::Helper(format!("{e:?}")))?;
            Ok(Float32Array::from(v).to_vec())
        })
    }
}

/// The CPU path on two workers (the Gram matrix and a subtree shared with a helper worker, as the
/// page does) beside one worker, alternating, best of 4 each, by stage: the affinity, the tree
/// grown from it, and, inside the tree, the root's Fiedler vector (which stays on one worker); the
/// trees must be equal. Run with `... --test bench -- cpu_only --nocapture`.
#[wasm_bindgen_test]
async fn ncut_cpu_only_two_workers() {
    let helper = WorkerHelper(spawn_gram_worker());
    let opts = TreeOptions {
        tau_max: 0.5,
        ..Default::default()
    };
    for g in [32usize, 48] {
        let f = smooth_field(g, g, 1280, 3.0, 42);
        // Untimed first: the helper's module compiles on its first request, and the engine
        // optimises the hot functions of both workers after their first calls (criterion warms
        // up the native side too).
        segment_tree(&f, 10.0, opts).unwrap();
        segment_tree_shared(&f, 10.0, opts, &helper).await.unwrap();
        // [one worker, two workers] × [whole, affinity, tree]
        let mut best = [[f64::INFINITY; 3]; 2];
        let mut trees = [None, None];
        let mut root = f64::INFINITY;
        for round in 0..8 {
            let two = round % 2 == 1;
            let t = now();
            let aff = if two {
                affinity_shared(&f.data, g * g, f.c, 10.0, &helper).await.unwrap()
            } else {
                affinity(&f.data, g * g, f.c, 10.0).unwrap()
            };
            let t_aff = now() - t;
            let t = now();
            let tree = if two {
                SegmentTree::build_shared(&aff, [g, g], 10.0, opts, &helper)
                    .await
                    .unwrap()
            } else {
                SegmentTree::build(&aff, [g, g], 10.0, opts).unwrap()
            };
            let t_tree = now() - t;
            if !two {
                // The root's Fiedler vector alone (degrees and Lanczos), as the tree computes it.
                let t = now();
                let d: Vec<f64> = aff
                    .w
                    .chunks_exact(aff.n)
                    .map(|r| r.iter().map(|&v| f64::from(v)).sum())
                    .collect();
                let fiedler = diffcut::ncut::lanczos::fiedler(&aff.w, &d, opts.lanczos).unwrap();
                root = root.min(now() - t);
                assert_eq!(fiedler.y.len(), g * g);
            }
            let b = &mut best[usize::from(two)];
            for (b, v) in b.iter_mut().zip([t_aff + t_tree, t_aff, t_tree]) {
                *b = b.min(v);
            }
            trees[usize::from(two)] = Some(tree);
        }
        let [one, two] = trees.map(Option::unwrap);
        assert_eq!(one, two, "{g}²: two workers grew another tree");
        let (labels, k) = two.labels_at(0.5).unwrap();
        let checksum = checksum(&labels);
        let [[w1, a1, t1], [w2, a2, t2]] = best;
        log(&format!(
            "cpu {g}²: one worker {w1:.0} ms (affinity {a1:.0} ms, tree {t1:.0} ms, root's Fiedler vector {root:.0} ms), \
             two workers {w2:.0} ms (affinity {a2:.0} ms, tree {t2:.0} ms); best of 4, {k} segments, labels checksum {checksum}"
        ));
    }
}

/// What the helper worker's share of the Gram matrix costs beyond the work: the same tiles (every
/// second one of the upper triangle) here and through the helper, and the round trip of `X̂`
/// with no tiles, best of 5. `affinity::HELPER_TRANSFER_PER_CELL` comes from these. Run with
/// `... --test bench -- cpu_helper_overhead --nocapture`.
#[wasm_bindgen_test]
async fn ncut_cpu_helper_overhead() {
    let helper = WorkerHelper(spawn_gram_worker());
    for g in [32usize, 48] {
        let f = smooth_field(g, g, 1280, 3.0, 42);
        let n = g * g;
        let mut x = f.data.clone();
        diffcut::ncut::affinity::l2_normalize_rows(&mut x, n, f.c).unwrap();
        let half: Vec<GramTile> = diffcut::ncut::affinity::gram_tiles(n)
            .into_iter()
            .skip(1)
            .step_by(2)
            .collect();
        // [here, through the helper, X̂ there and back without tiles]
        let mut best = [f64::INFINITY; 3];
        for round in 0..6 {
            let t = now();
            let here = diffcut::ncut::affinity::tile_products(&x, n, f.c, &half).unwrap();
            let t_here = now() - t;
            let t = now();
            let there = helper.start(&x, n, f.c, &half).await.unwrap();
            let t_there = now() - t;
            let t = now();
            assert!(helper.start(&x, n, f.c, &[]).await.unwrap().is_empty());
            let t_empty = now() - t;
            assert_eq!(here, there);
            if round > 0 {
                // Round 0 warms both workers up.
                for (b, v) in best.iter_mut().zip([t_here, t_there, t_empty]) {
                    *b = b.min(v);
                }
            }
        }
        log(&format!(
            "helper {g}²: {} tiles here {:.0} ms, through the helper {:.0} ms; X̂ ({:.1} MB) there and back {:.0} ms; best of 5",
            half.len(),
            best[0],
            best[1],
            (n * f.c * 4) as f64 / 1e6,
            best[2]
        ));
    }
}
