//! The page's second worker for the CPU path ([`crate::ncut::segment_tree_shared`]): the worker
//! that segments hands the helper worker about half of the affinity's Gram tiles (`gramTiles`,
//! [`gram_tile_products`]) and then the smaller of the root's two subtrees (`growSubtree`,
//! [`grow_subtree_wire`]), both on the same wasm, and does the rest meanwhile. wasm has no threads
//! here (they need a cross-origin isolated page, which a static host may not give), so two
//! workers are how the page uses two cores. The trees are the same: each piece of work is one
//! fixed computation, whichever worker runs it.

use js_sys::{Float32Array, Float64Array, Promise, Uint32Array, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::convert::js_error;
use crate::ncut::affinity::{tile_products, GramTile, TileHelper};
use crate::ncut::tree::{grow_subtree, SubtreeHelper, SubtreeJob, TreeNode};
use crate::ncut::wire;
use crate::ncut::Pending;
use crate::{Error, Result};

#[wasm_bindgen(typescript_custom_section)]
const CPU_HELPER: &str = r#"
/** The helper worker of the CPU path, as `DiffCut.create` takes it: each method posts the work and resolves with the answer of `gramTiles` / `growSubtree` there. */
export interface CpuHelper {
  tiles(x: Float32Array, c: number, tiles: Uint32Array): Promise<Float32Array>;
  subtree(w: Float32Array, excluded: Uint8Array, params: Float64Array): Promise<Float64Array>;
}
"#;

#[wasm_bindgen]
extern "C" {
    /// See the `CpuHelper` interface above.
    #[wasm_bindgen(typescript_type = "CpuHelper")]
    pub type CpuHelper;

    #[wasm_bindgen(method, catch)]
    fn tiles(this: &CpuHelper, x: Float32Array, c: u32, tiles: Uint32Array) -> std::result::Result<Promise, JsValue>;

    #[wasm_bindgen(method, catch)]
    fn subtree(
        this: &CpuHelper,
        w: Float32Array,
        excluded: Uint8Array,
        params: Float64Array,
    ) -> std::result::Result<Promise, JsValue>;
}

/// The products of Gram tiles for the helper worker: `x` the normalised features `[n, c]`
/// (`n = x.length / c`), `tiles` the tiles as `(row, col)` pairs, flat; the products
/// concatenated in the order of `tiles`, each `[m, k]` row-major (see `TileHelper`).
#[wasm_bindgen(js_name = gramTiles)]
pub fn gram_tile_products(x: &[f32], c: u32, tiles: &[u32]) -> Result<Vec<f32>, JsError> {
    let c = c as usize;
    if c == 0 || !x.len().is_multiple_of(c) {
        return Err(js_error(Error::InvalidFeatures(format!(
            "{} values are not rows of c = {c}",
            x.len()
        ))));
    }
    let tiles = wire::decode_tiles(tiles).map_err(js_error)?;
    tile_products(x, x.len() / c, c, &tiles).map_err(js_error)
}

/// A region's subtree for the helper worker: `w` its affinity `[n, n]`, `excluded` one byte per
/// cell (1: excluded below the root), `params` the job's depth and options (`ncut::wire`); the
/// nodes, encoded as `ncut::wire` says.
#[wasm_bindgen(js_name = growSubtree)]
pub fn grow_subtree_wire(w: Vec<f32>, excluded: &[u8], params: &[f64]) -> Result<Vec<f64>, JsError> {
    let job = wire::decode_job(w, excluded, params).map_err(js_error)?;
    let nodes = grow_subtree(job).map_err(js_error)?;
    Ok(wire::encode_nodes(&nodes))
}

fn helper_error(e: JsValue) -> Error {
    Error::Helper(e.as_string().unwrap_or_else(|| format!("{e:?}")))
}

/// Awaits a helper's promise (or the error of posting to it).
async fn answer(called: std::result::Result<Promise, JsValue>) -> Result<JsValue> {
    JsFuture::from(called.map_err(helper_error)?)
        .await
        .map_err(helper_error)
}

impl TileHelper for CpuHelper {
    fn start(&self, x: &[f32], _n: usize, c: usize, tiles: &[GramTile]) -> Pending<Vec<f32>> {
        let pairs = wire::encode_tiles(tiles);
        // Called now, so the helper works while this worker computes its own tiles.
        let called = self.tiles(Float32Array::from(x), c as u32, Uint32Array::from(pairs.as_slice()));
        Box::pin(async move {
            let products = answer(called)
                .await?
                .dyn_into::<Float32Array>()
                .map_err(|_| Error::Helper("its answer is not a Float32Array".into()))?;
            Ok(products.to_vec())
        })
    }
}

impl SubtreeHelper for CpuHelper {
    fn start_subtree(&self, job: &SubtreeJob) -> Pending<Vec<TreeNode>> {
        let (excluded, params) = wire::encode_job(job);
        // Called now, so the helper grows this subtree while this worker grows the other.
        let called = self.subtree(
            Float32Array::from(job.w.as_slice()),
            Uint8Array::from(excluded.as_slice()),
            Float64Array::from(&params[..]),
        );
        Box::pin(async move {
            let nodes = answer(called)
                .await?
                .dyn_into::<Float64Array>()
                .map_err(|_| Error::Helper("its answer is not a Float64Array".into()))?;
            wire::decode_nodes(&nodes.to_vec())
        })
    }
}
