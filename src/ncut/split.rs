//! The one rule for splitting a region (docs/ALGORITHM.md §4.3), followed by the CPU tree ([`super::tree`]) and
//! mirrored by the GPU tree (`gpu::tree`, in `f32`, which `split.wgsl` also computes on the GPU).
//!
//! A region with best cut (NCut, θ) along its Fiedler vector `y` splits iff `NCut < τ_max`. Its
//! children are `[{i : y_i > θ}, the rest]` — the "1" side `B` of the official code first, which
//! is also the order the official recursion visits them — each without the cells excluded below
//! the root (the zero-as-marker quirk of [`super::Mode::Official`]; none with `Mode::Clean`).

use super::bipartition::Real;

/// Is a region whose best cut has NCut `ncut` split when growing to `tau_max`?
#[inline]
pub fn accepts<F: Real>(ncut: F, tau_max: F) -> bool {
    ncut < tau_max
}

/// The two children of an accepted cut: `[y > θ side, the rest]`, each in `cells`' order, without
/// the cells marked in `excluded` (indexed by cell). `y[i]` is the Fiedler value of `cells[i]`.
pub fn children<F: Real>(cells: &[u32], y: &[F], theta: F, excluded: &[bool]) -> [Vec<u32>; 2] {
    debug_assert_eq!(cells.len(), y.len());
    let mut sides = [Vec::new(), Vec::new()];
    for (&cell, &v) in cells.iter().zip(y) {
        if !excluded[cell as usize] {
            // `!(v > θ)`, not `v ≤ θ`: a NaN goes with the rest, as in the official `y > θ` mask.
            sides[usize::from(!(v > theta))].push(cell);
        }
    }
    sides
}

/// The split of a region, or `None` when its cut is not accepted: [`accepts`] then [`children`].
pub fn split<F: Real>(
    cells: &[u32],
    y: &[F],
    theta: F,
    ncut: F,
    tau_max: F,
    excluded: &[bool],
) -> Option<[Vec<u32>; 2]> {
    accepts(ncut, tau_max).then(|| children(cells, y, theta, excluded))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_y_above_theta_side_comes_first_and_excluded_cells_go() {
        let cells = [2u32, 3, 5, 7, 8];
        let y = [0.5f64, -0.1, 0.0, 0.2, -0.4];
        let mut excluded = vec![false; 9];
        excluded[7] = true;
        assert_eq!(
            split(&cells, &y, 0.0, 0.3, 0.5, &excluded),
            Some([vec![2], vec![3, 5, 8]])
        );
        // The same in f32, as the GPU mirror runs it.
        let y32: Vec<f32> = y.iter().map(|&v| v as f32).collect();
        assert_eq!(
            split(&cells, &y32, 0.0, 0.3, 0.5, &excluded),
            Some([vec![2], vec![3, 5, 8]])
        );
    }

    #[test]
    fn a_cut_at_or_above_tau_max_is_not_taken() {
        assert_eq!(split(&[0, 1], &[1.0f64, -1.0], 0.0, 0.5, 0.5, &[false; 2]), None);
        assert!(accepts(0.499_999f32, 0.5));
        assert!(!accepts(f64::NAN, 0.5));
    }
}
