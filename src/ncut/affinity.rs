//! The DiffCut affinity matrix (docs/ALGORITHM.md §3, `recursive_normalized_cut.py:84-91`):
//!
//! ```text
//! x̂_i = x_i / max(‖x_i‖, 1e-12)            L2-normalised token features, X̂ ∈ R^{N×C}
//! S   = X̂ X̂ᵀ                              cosine similarities, N×N, diagonal ≈ 1
//! S'  = (S − min S) / (max S − min S)      min-max over the WHOLE matrix (negatives are not clipped)
//! W   = S'^α                               α = 10 by default; self-loops are kept
//! ```
//!
//! Everything is `f32`, in the same order of operations as the official PyTorch code, so that the
//! exact zeros the official recursion relies on (see [`super::tree`]) appear in the same places.

use super::Pending;
use crate::{Error, Result};

/// A dense, symmetric, non-negative affinity matrix `W` over `n` graph nodes (tokens).
#[derive(Clone, Debug, PartialEq)]
pub struct Affinity {
    /// Number of nodes N.
    pub n: usize,
    /// `[N, N]` row-major.
    pub w: Vec<f32>,
    /// `true` when every entry of `S` was equal (all features parallel): min-max is 0/0 there.
    /// The official code then produces NaNs; we set `W ≡ 1` and never split (every cut of a
    /// complete uniform graph has the same NCut, so no cut means anything).
    pub constant: bool,
}

impl Affinity {
    /// Row `i` of `W`.
    #[inline]
    pub fn row(&self, i: usize) -> &[f32] {
        &self.w[i * self.n..(i + 1) * self.n]
    }
}

/// Most cells (tokens) a grid may have on the CPU path: 16 384 = 128², the largest colour grid.
/// The dense `W` is then 1 GiB of `f32` (the recursion reads the root's rows in place and copies
/// only smaller regions), within a wasm32 address space; 65 536 cells would need 16 GiB. The
/// GPU path is bounded by its device's buffer limits instead ([`Error::GpuLimit`]).
pub const MAX_CELLS: usize = 16_384;

/// [`Error::TooLarge`] for a grid of more than [`MAX_CELLS`] cells.
pub fn check_cells(n: usize) -> Result<()> {
    if n > MAX_CELLS {
        return Err(Error::TooLarge {
            what: "the feature grid's cell count",
            got: n as u64,
            limit: MAX_CELLS as u64,
            reason: "the dense N×N affinity on the CPU; use a smaller grid",
        });
    }
    Ok(())
}

/// Checks an exponent α: finite and > 0.
pub fn check_alpha(alpha: f32) -> Result<()> {
    if alpha.is_finite() && alpha > 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidParameter {
            name: "alpha",
            expected: "a finite number > 0",
            got: alpha.to_string(),
        })
    }
}

/// L2-normalises every row of `features` (`[n, c]` row-major) in place, as
/// `torch.nn.functional.normalize(eps=1e-12)` does. Rejects non-finite values.
pub fn l2_normalize_rows(features: &mut [f32], n: usize, c: usize) -> Result<()> {
    if c == 0 || n.checked_mul(c) != Some(features.len()) {
        return Err(Error::InvalidFeatures(format!(
            "expected {n}×{c} = {} values, got {}",
            n as u128 * c as u128,
            features.len()
        )));
    }
    for (i, row) in features.chunks_exact_mut(c).enumerate() {
        let mut sq = 0.0f64;
        for &v in row.iter() {
            if !v.is_finite() {
                return Err(Error::InvalidFeatures(format!(
                    "token {i} (row-major cell index) contains the value {v}"
                )));
            }
            sq += f64::from(v) * f64::from(v);
        }
        let norm = (sq.sqrt() as f32).max(1e-12);
        for v in row.iter_mut() {
            *v /= norm;
        }
    }
    Ok(())
}

/// Builds `W = minmax(X̂ X̂ᵀ)^α` from raw token features `[n, c]` (row-major, token order y·w + x).
///
/// # Shapes
/// - `features`: `[n, c]`
/// - returns `W`: `[n, n]`
pub fn affinity(features: &[f32], n: usize, c: usize, alpha: f32) -> Result<Affinity> {
    let x = normalized(features, n, c, alpha)?;
    let tiles = gram_tiles(n);
    let mut s = Gram::new(n);
    for (&t, p) in tiles.iter().zip(tile_products_local(&x, n, c, &tiles)) {
        s.add(t, &p);
    }
    Ok(s.into_affinity(alpha))
}

/// [`affinity`] with about half of the Gram tiles computed by `helper` (another worker) while
/// this thread computes the rest. The result is the same `W`: each tile is one fixed computation
/// wherever it runs, and its place in `S` does not depend on when it arrives. This thread places
/// its own tiles while the helper finishes. When the helper fails or answers with the wrong number
/// of values, its tiles are computed here.
///
/// For wasm, which has no threads: natively [`affinity`] already uses every core.
pub async fn affinity_shared<H: TileHelper + ?Sized>(
    features: &[f32],
    n: usize,
    c: usize,
    alpha: f32,
    helper: &H,
) -> Result<Affinity> {
    let x = normalized(features, n, c, alpha)?;
    let tiles = gram_tiles(n);
    // Balanced by work, ties to this thread. The helper starts behind by the transfers of `X̂`
    // to it and of its products back.
    let (mut mine, mut theirs) = (Vec::new(), Vec::new());
    let (mut mine_work, mut their_work) = (0, HELPER_TRANSFER_PER_CELL * n);
    for t in tiles {
        if their_work < mine_work {
            theirs.push(t);
            their_work += t.work(n);
        } else {
            mine.push(t);
            mine_work += t.work(n);
        }
    }
    // Started before this thread's own tiles, awaited after them (and after placing them in S).
    let pending = (!theirs.is_empty()).then(|| helper.start(&x, n, c, &theirs));
    let mut s = Gram::new(n);
    for (&t, p) in mine.iter().zip(tile_products_local(&x, n, c, &mine)) {
        s.add(t, &p);
    }
    let expected: usize = theirs.iter().map(|t| t.len(n)).sum();
    let answer = match pending {
        Some(p) => p.await.ok().filter(|v| v.len() == expected),
        None => None,
    };
    match answer {
        Some(products) => {
            let mut rest = products.as_slice();
            for &t in &theirs {
                let (p, tail) = rest.split_at(t.len(n));
                s.add(t, p);
                rest = tail;
            }
        }
        None => {
            for (&t, p) in theirs.iter().zip(tile_products_local(&x, n, c, &theirs)) {
                s.add(t, &p);
            }
        }
    }
    Ok(s.into_affinity(alpha))
}

/// Computes Gram tiles somewhere else: the page's second worker, through
/// [`tile_products`] there.
pub trait TileHelper {
    /// Starts computing `tiles` of `X̂ X̂ᵀ` for the normalised features `x` (`[n, c]`) and returns
    /// the future of their products: each tile `[m, k]` row-major ([`GramTile::shape`]), the
    /// tiles concatenated in the order given (below the diagonal of a diagonal tile, any value:
    /// it is never read). The work must have started when this returns: the
    /// caller computes its own tiles before it awaits.
    fn start(&self, x: &[f32], n: usize, c: usize, tiles: &[GramTile]) -> Pending<Vec<f32>>;
}

/// What moving the features to a [`TileHelper`] and its products back costs, per cell of the
/// grid, in the unit of [`GramTile::work`] (entries of `S`). Sending `X̂` (`[n, c]`) grows with C
/// as an entry of `S` does (`c` multiply-adds), so that part of the ratio does not depend on C;
/// the products coming back and the messages' latency do not grow with C, so at small C the
/// helper is under-charged. Measured at C = 1280 in Chromium on machine A (`wasm-tests` bench
/// `ncut_cpu_helper_overhead`, BENCHMARKS.md): half of the Gram matrix took 4 ms longer through
/// the helper at 32² (16 ms here) and 9 ms longer at 48² (82 ms here), both about 64·n entries'
/// worth. Only how the work is split depends on it, never the result.
pub const HELPER_TRANSFER_PER_CELL: usize = 64;

/// Side of the square tiles the Gram matrix is computed in: 256 rows × 256 columns of `S`
/// (256 KiB of output, and 2 × 256 rows of features at C = 1280: within a core's L2).
pub const GRAM_TILE: usize = 256;

/// One tile of `S = X̂X̂ᵀ` on or above the diagonal (`row ≤ col`): rows
/// `row·GRAM_TILE ..` and columns `col·GRAM_TILE ..`, cut at `n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GramTile {
    pub row: usize,
    pub col: usize,
}

impl GramTile {
    /// `(first row, first column, rows m, columns k)` of this tile in an `[n, n]` matrix.
    pub fn shape(self, n: usize) -> (usize, usize, usize, usize) {
        let (r0, c0) = (self.row * GRAM_TILE, self.col * GRAM_TILE);
        (r0, c0, GRAM_TILE.min(n - r0), GRAM_TILE.min(n - c0))
    }

    /// Number of values of the tile's product, `m·k`.
    pub fn len(self, n: usize) -> usize {
        let (_, _, m, k) = self.shape(n);
        m * k
    }

    /// Entries of `S` computed for this tile: all `m·k`, or on the diagonal the blocks of 4 rows
    /// × 2 columns that reach the upper triangle, about `m·(m + 4) / 2` (what the wasm kernel computes;
    /// the helper exists only there). The cost the work is shared by.
    pub fn work(self, n: usize) -> usize {
        let (_, _, m, k) = self.shape(n);
        if self.row == self.col {
            m * (m + 4) / 2
        } else {
            m * k
        }
    }
}

/// The tiles on and above the diagonal of an `[n, n]` Gram matrix, row by row. `S` is
/// symmetric: only these are multiplied, then mirrored (about half the work of a full product).
pub fn gram_tiles(n: usize) -> Vec<GramTile> {
    let tiles = n.div_ceil(GRAM_TILE);
    (0..tiles)
        .flat_map(|row| (row..tiles).map(move |col| GramTile { row, col }))
        .collect()
}

/// The products of `tiles` for normalised features `x` `[n, c]`, concatenated in order (what a
/// [`TileHelper`] answers), after checking the shapes and that every tile lies on or above the
/// diagonal of an `[n, n]` matrix.
pub fn tile_products(x: &[f32], n: usize, c: usize, tiles: &[GramTile]) -> Result<Vec<f32>> {
    if n == 0 || c == 0 || n.checked_mul(c) != Some(x.len()) {
        return Err(Error::InvalidFeatures(format!(
            "expected {n}×{c} = {} values, got {}",
            n as u128 * c as u128,
            x.len()
        )));
    }
    check_cells(n)?;
    let last = n.div_ceil(GRAM_TILE);
    if let Some(t) = tiles.iter().find(|t| t.row > t.col || t.col >= last) {
        return Err(Error::InvalidParameter {
            name: "tiles",
            expected: "tiles (row, col) with row ≤ col < ⌈n / 256⌉",
            got: format!("({}, {}) for n = {n}", t.row, t.col),
        });
    }
    Ok(tile_products_local(x, n, c, tiles).concat())
}

/// Checks `α`, `n` and the features, and L2-normalises them: `X̂` `[n, c]`.
fn normalized(features: &[f32], n: usize, c: usize, alpha: f32) -> Result<Vec<f32>> {
    check_alpha(alpha)?;
    if n == 0 {
        return Err(Error::InvalidFeatures("the grid has no cells".into()));
    }
    check_cells(n)?;
    let mut x = features.to_vec();
    l2_normalize_rows(&mut x, n, c)?;
    Ok(x)
}

/// One product per tile ([`tile_product`]), on every core natively.
fn tile_products_local(x: &[f32], n: usize, c: usize, tiles: &[GramTile]) -> Vec<Vec<f32>> {
    let product = |t: &GramTile| {
        let (r0, c0, m, k) = t.shape(n);
        let diagonal = t.row == t.col;
        tile_product(&x[r0 * c..(r0 + m) * c], &x[c0 * c..(c0 + k) * c], (m, k, c), diagonal)
    };
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        tiles.par_iter().map(product).collect()
    }
    #[cfg(not(feature = "parallel"))]
    tiles.iter().map(product).collect()
}

/// `x^α` for `x ∈ [0, 1]`, with integer α done by repeated squaring (exactly what `powf` gives up
/// to the last ulp, and 5× faster on a million entries).
#[inline]
fn pow_f32(x: f32, alpha: f32) -> f32 {
    if alpha == 10.0 {
        let x2 = x * x;
        let x4 = x2 * x2;
        let x8 = x4 * x4;
        x8 * x2
    } else if alpha == 1.0 {
        x
    } else {
        x.powf(alpha)
    }
}

/// `S = X̂X̂ᵀ` `[n, n]` row-major, assembled from the tiles' products in any order, with `min S` and
/// `max S` (exact: min/max do not depend on the order of evaluation).
struct Gram {
    n: usize,
    s: Vec<f32>,
    lo: f32,
    hi: f32,
}

impl Gram {
    fn new(n: usize) -> Self {
        Self {
            n,
            s: vec![0.0; n * n],
            lo: f32::INFINITY,
            hi: f32::NEG_INFINITY,
        }
    }

    /// Places the product `out` (`[m, k]`) of tile `t` and its mirror.
    fn add(&mut self, t: GramTile, out: &[f32]) {
        let n = self.n;
        let (r0, c0, m, k) = t.shape(n);
        debug_assert_eq!(out.len(), m * k);
        let (mut lo, mut hi) = (self.lo, self.hi);
        let mut bound = |v: f32| {
            lo = lo.min(v);
            hi = hi.max(v);
        };
        let s = &mut self.s;
        if t.row == t.col {
            // GEMM need not round S_ab and S_ba identically: keep the upper triangle.
            for a in 0..m {
                let row = &mut s[(r0 + a) * n + c0..][..k];
                for (b, v) in row.iter_mut().enumerate() {
                    *v = if b >= a { out[a * k + b] } else { out[b * k + a] };
                }
                out[a * k + a..(a + 1) * k].iter().for_each(|&v| bound(v));
            }
        } else {
            out.iter().for_each(|&v| bound(v));
            for a in 0..m {
                s[(r0 + a) * n + c0..][..k].copy_from_slice(&out[a * k..(a + 1) * k]);
            }
            // The mirrored tile, written row by row (the small tile is in cache).
            for b in 0..k {
                let row = &mut s[(c0 + b) * n + r0..][..m];
                for (a, v) in row.iter_mut().enumerate() {
                    *v = out[a * k + b];
                }
            }
        }
        (self.lo, self.hi) = (lo, hi);
    }

    /// `W`, once every tile of [`gram_tiles`]`(n)` is in: `S` min-max scaled and raised to `α`.
    fn into_affinity(self, alpha: f32) -> Affinity {
        let Self { n, mut s, lo, hi } = self;
        if !(hi > lo) {
            // Deviation: the official code divides 0 by 0 here. See `Affinity::constant`.
            s.iter_mut().for_each(|v| *v = 1.0);
            return Affinity {
                n,
                w: s,
                constant: true,
            };
        }
        let range = hi - lo;
        let scale = |row: &mut [f32]| row.iter_mut().for_each(|v| *v = pow_f32((*v - lo) / range, alpha));
        #[cfg(feature = "parallel")]
        {
            use rayon::prelude::*;
            s.par_chunks_mut(n.max(1) * 64).for_each(scale);
        }
        #[cfg(not(feature = "parallel"))]
        scale(&mut s);
        Affinity {
            n,
            w: s,
            constant: false,
        }
    }
}

/// `A Bᵀ` for row blocks `A` `[m, c]` and `B` `[k, c]` (row-major, shapes given as `(m, k, c)`),
/// as `[m, k]` row-major: one tile of the Gram matrix.
///
/// Natively a single-precision GEMM (matrixmultiply's kernels for the CPU it runs on). matrixmultiply
/// has no wasm SIMD kernel: its portable one made the Gram matrix 4.3× slower in the page than
/// natively, while the rest of the NCut ran at native speed (BENCHMARKS.md), so wasm32 has its
/// own, below.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn tile_product(a: &[f32], b: &[f32], (m, k, c): (usize, usize, usize), _diagonal: bool) -> Vec<f32> {
    let mut out = vec![0.0f32; m * k];
    // SAFETY: `a` holds m rows and `b` k rows of c values (row stride c, column stride 1); `out`
    // holds m·k values with row stride k.
    unsafe {
        matrixmultiply::sgemm(
            m,
            c,
            k,
            1.0,
            a.as_ptr(),
            c as isize,
            1,
            b.as_ptr(),
            1,
            c as isize,
            0.0,
            out.as_mut_ptr(),
            k as isize,
            1,
        );
    }
    out
}

/// `tile_product` with wasm's 128-bit SIMD: blocks of 4 rows of `A` × 2 rows of `B`, eight
/// 4-lane accumulators (with the six vectors loaded per step, 14 registers: x86-64 engines have
/// 16), then each accumulator summed as `(l₀ + l₂) + (l₁ + l₃)`, then the `c mod 4` tail in order.
/// Every entry is one fixed sequence of operations, so the result does not depend on the engine.
/// On a `diagonal` tile (`A` = `B`) the blocks wholly below the diagonal are skipped (left 0):
/// only the upper triangle is read ([`assemble`]), and this saves a tenth of the Gram matrix.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn tile_product(a: &[f32], b: &[f32], (m, k, c): (usize, usize, usize), diagonal: bool) -> Vec<f32> {
    use core::arch::wasm32::{f32x4, f32x4_add, f32x4_extract_lane, f32x4_mul, v128, v128_load};

    let mut out = vec![0.0f32; m * k];
    let c4 = c - c % 4;
    let load = |row: &[f32], i: usize| -> v128 {
        debug_assert!(i + 4 <= row.len());
        // SAFETY: i + 4 ≤ c4 ≤ row.len(); v128_load has no alignment requirement.
        unsafe { v128_load(row.as_ptr().add(i).cast()) }
    };
    let finish = |acc: v128, x: &[f32], y: &[f32]| -> f32 {
        let lanes = (
            f32x4_extract_lane::<0>(acc),
            f32x4_extract_lane::<1>(acc),
            f32x4_extract_lane::<2>(acc),
            f32x4_extract_lane::<3>(acc),
        );
        let mut v = (lanes.0 + lanes.2) + (lanes.1 + lanes.3);
        for i in c4..c {
            v += x[i] * y[i];
        }
        v
    };
    fn row(m: &[f32], i: usize, c: usize) -> &[f32] {
        &m[i * c..(i + 1) * c]
    }
    let zero = f32x4(0.0, 0.0, 0.0, 0.0);
    let mut i = 0;
    while i < m {
        let ra = (m - i).min(4);
        let mut j = 0;
        while j < k {
            let rb = (k - j).min(2);
            if diagonal && j + rb <= i {
                // Every column of the block is left of every row: below the diagonal.
            } else if ra == 4 && rb == 2 {
                let (x0, x1, x2, x3) = (row(a, i, c), row(a, i + 1, c), row(a, i + 2, c), row(a, i + 3, c));
                let (y0, y1) = (row(b, j, c), row(b, j + 1, c));
                let mut acc = [zero; 8];
                let mut t = 0;
                while t < c4 {
                    let (p0, p1, p2, p3) = (load(x0, t), load(x1, t), load(x2, t), load(x3, t));
                    let (q0, q1) = (load(y0, t), load(y1, t));
                    acc[0] = f32x4_add(acc[0], f32x4_mul(p0, q0));
                    acc[1] = f32x4_add(acc[1], f32x4_mul(p0, q1));
                    acc[2] = f32x4_add(acc[2], f32x4_mul(p1, q0));
                    acc[3] = f32x4_add(acc[3], f32x4_mul(p1, q1));
                    acc[4] = f32x4_add(acc[4], f32x4_mul(p2, q0));
                    acc[5] = f32x4_add(acc[5], f32x4_mul(p2, q1));
                    acc[6] = f32x4_add(acc[6], f32x4_mul(p3, q0));
                    acc[7] = f32x4_add(acc[7], f32x4_mul(p3, q1));
                    t += 4;
                }
                for (r, x) in [x0, x1, x2, x3].into_iter().enumerate() {
                    out[(i + r) * k + j] = finish(acc[2 * r], x, y0);
                    out[(i + r) * k + j + 1] = finish(acc[2 * r + 1], x, y1);
                }
            } else {
                // The ragged edge of the tile: one entry at a time, the same sequence per entry.
                for r in i..i + ra {
                    for s in j..j + rb {
                        let (x, y) = (row(a, r, c), row(b, s, c));
                        let mut acc = zero;
                        let mut t = 0;
                        while t < c4 {
                            acc = f32x4_add(acc, f32x4_mul(load(x, t), load(y, t)));
                            t += 4;
                        }
                        out[r * k + s] = finish(acc, x, y);
                    }
                }
            }
            j += rb;
        }
        i += ra;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_minmax_power_on_a_tiny_case() {
        // Three 2-D tokens: e0, e1 and (e0+e1)/√2. Cosines: 1, 0, 1/√2; min 0, max 1.
        let f = [1.0, 0.0, 0.0, 2.0, 3.0, 3.0];
        let a = affinity(&f, 3, 2, 2.0).unwrap();
        let h = 0.5f32; // (1/√2)^2
        let want = [1.0, 0.0, h, 0.0, 1.0, h, h, h, 1.0];
        for (g, w) in a.w.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{:?}", a.w);
        }
        assert!(!a.constant);
    }

    #[test]
    fn minimum_pair_is_exactly_zero_and_symmetric() {
        let f: Vec<f32> = (0..40).map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.3).collect();
        let a = affinity(&f, 10, 4, 10.0).unwrap();
        assert!(a.w.contains(&0.0));
        for i in 0..10 {
            for j in 0..10 {
                assert_eq!(a.w[i * 10 + j], a.w[j * 10 + i]);
            }
        }
    }

    #[test]
    fn parallel_features_give_a_constant_graph() {
        let f = [1.0, 2.0, 2.0, 4.0, 0.5, 1.0];
        let a = affinity(&f, 3, 2, 10.0).unwrap();
        assert!(a.constant);
        assert!(a.w.iter().all(|&v| v == 1.0));
    }

    #[test]
    fn rejects_nan_and_bad_alpha() {
        let f = [1.0, f32::NAN, 0.0, 1.0];
        let e = affinity(&f, 2, 2, 10.0).unwrap_err().to_string();
        assert!(e.contains("NaN"), "{e}");
        for alpha in [0.0, -1.0, f32::NAN, f32::INFINITY] {
            let e = affinity(&[1.0, 0.0], 2, 1, alpha).unwrap_err().to_string();
            assert!(e.contains("alpha"), "{e}");
        }
    }

    #[test]
    fn pow_matches_powf() {
        for i in 0..=1000 {
            let x = i as f32 / 1000.0;
            let (a, b) = (pow_f32(x, 10.0), x.powf(10.0));
            assert!(
                (a - b).abs() <= 4.0 * f32::EPSILON * b.max(f32::MIN_POSITIVE),
                "{x}: {a} {b}"
            );
        }
    }
}
