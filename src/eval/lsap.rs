//! Rectangular linear sum assignment (the "Hungarian" step of the evaluation), a line-by-line
//! port of SciPy's `scipy.optimize.linear_sum_assignment`
//! (`scipy/optimize/rectangular_lsap/rectangular_lsap.cpp`, unchanged from SciPy 1.9 to 1.17.1:
//! Crouse's shortest augmenting path, DOI 10.1109/TAES.2016.140952).
//!
//! Why a port and not any optimal solver: the official metric is **not** a function of the
//! optimal matching value alone. When several assignments are optimal (very common: a class absent
//! from an image has an all-zero histogram row and may take any left-over column), the one SciPy
//! picks decides which predicted cluster's pixels become that class's false positives. Only the
//! same algorithm, visiting columns in the same order and breaking ties the same way, reproduces
//! the official numbers. Every cost the evaluation feeds in is an integer pixel count held in an
//! `f64` (exact below 2⁵³), so all the arithmetic below is exact and the port takes the same branch
//! as the C++ at every comparison. `tests/miou.rs` checks it against SciPy's own answers on
//! matrices full of ties (`tests/fixtures/miou/lsap_cases.json`).

use crate::{Error, Result};

const NONE: usize = usize::MAX;

/// `scipy.optimize.linear_sum_assignment(cost, maximize)` for a row-major `nr × nc` matrix.
///
/// Returns `(row_ind, col_ind)`: `min(nr, nc)` pairs, `row_ind` ascending, each row and column used
/// at most once, minimising (or with `maximize`, maximising) `Σ cost[row_ind[k], col_ind[k]]`. Ties
/// are broken exactly as SciPy breaks them.
///
/// # Errors
/// [`Error::InvalidParameter`] when `cost.len() != nr·nc`, when an entry is NaN or the wrong
/// infinity (−∞ when minimising, +∞ when maximising: "invalid numeric entries" in SciPy), or when
/// the matrix is infeasible (every completion needs an infinite cost).
///
/// # Complexity
/// `O(min(nr, nc)² · max(nr, nc))` time in the worst case, `O(nr + nc)` memory besides a transposed
/// copy when `nr > nc`.
pub fn linear_sum_assignment(cost: &[f64], nr: usize, nc: usize, maximize: bool) -> Result<(Vec<usize>, Vec<usize>)> {
    if nr.checked_mul(nc) != Some(cost.len()) {
        return Err(Error::InvalidParameter {
            name: "cost",
            expected: "a row-major matrix with rows × cols entries",
            got: format!("{} entries for {nr} × {nc}", cost.len()),
        });
    }
    if nr == 0 || nc == 0 {
        return Ok((Vec::new(), Vec::new()));
    }
    // A tall matrix is transposed, as in SciPy.
    if nc < nr {
        let mut t = vec![0.0; nr * nc];
        for i in 0..nr {
            for j in 0..nc {
                t[j * nr + i] = cost[i * nc + j];
            }
        }
        let col4row = solve_checked(&t, nc, nr, maximize)?;
        // SciPy: argsort(col4row) (the values are distinct, so any sort gives the same order).
        let mut order: Vec<usize> = (0..nc).collect();
        order.sort_by_key(|&v| col4row[v]);
        let rows = order.iter().map(|&v| col4row[v]).collect();
        return Ok((rows, order));
    }
    let col4row = solve_checked(cost, nr, nc, maximize)?;
    Ok(((0..nr).collect(), col4row))
}

fn solve_checked(cost: &[f64], nr: usize, nc: usize, maximize: bool) -> Result<Vec<usize>> {
    // SciPy tests the (negated, when maximising) matrix for NaN and −∞.
    let bad = if maximize { f64::INFINITY } else { f64::NEG_INFINITY };
    if let Some(&x) = cost.iter().find(|&&x| x.is_nan() || x == bad) {
        return Err(Error::InvalidParameter {
            name: "cost",
            expected: "no NaN entries, and no -inf (minimising) or +inf (maximising)",
            got: x.to_string(),
        });
    }
    let solved = if maximize {
        solve_wide::<true>(cost, nr, nc)
    } else {
        solve_wide::<false>(cost, nr, nc)
    };
    solved.ok_or_else(|| Error::InvalidParameter {
        name: "cost",
        expected: "a feasible matrix (some assignment with finite cost)",
        got: "every assignment needs an infinite entry".into(),
    })
}

/// SciPy's `solve` for `nr ≤ nc` (after its transpose), without the input checks: returns
/// `col4row`, or `None` for an infeasible matrix. `MAXIMIZE` negates each entry as it is read,
/// which is bit-for-bit what SciPy's negated copy holds.
pub(crate) fn solve_wide<const MAXIMIZE: bool>(cost: &[f64], nr: usize, nc: usize) -> Option<Vec<usize>> {
    debug_assert!(nr <= nc && cost.len() == nr * nc);
    let mut s = State {
        u: vec![0.0; nr],
        v: vec![0.0; nc],
        shortest_path_costs: vec![0.0; nc],
        path: vec![NONE; nc],
        col4row: vec![NONE; nr],
        row4col: vec![NONE; nc],
        sr: vec![false; nr],
        sc: vec![false; nc],
        remaining: vec![0; nc],
    };
    for cur_row in 0..nr {
        let (sink, min_val) = s.augmenting_path::<MAXIMIZE>(cost, nc, cur_row)?;

        // Update the dual variables.
        s.u[cur_row] += min_val;
        for i in 0..nr {
            if s.sr[i] && i != cur_row {
                s.u[i] += min_val - s.shortest_path_costs[s.col4row[i]];
            }
        }
        for j in 0..nc {
            if s.sc[j] {
                s.v[j] -= min_val - s.shortest_path_costs[j];
            }
        }

        // Augment the previous solution along the path.
        let mut j = sink;
        loop {
            let i = s.path[j];
            s.row4col[j] = i;
            std::mem::swap(&mut s.col4row[i], &mut j);
            if i == cur_row {
                break;
            }
        }
    }
    Some(s.col4row)
}

struct State {
    u: Vec<f64>,
    v: Vec<f64>,
    shortest_path_costs: Vec<f64>,
    path: Vec<usize>,
    col4row: Vec<usize>,
    row4col: Vec<usize>,
    sr: Vec<bool>,
    sc: Vec<bool>,
    remaining: Vec<usize>,
}

impl State {
    /// SciPy's `augmenting_path`: the sink column and the path's cost, or `None` if infeasible.
    fn augmenting_path<const MAXIMIZE: bool>(&mut self, cost: &[f64], nc: usize, mut i: usize) -> Option<(usize, f64)> {
        let mut min_val = 0.0;
        // Filled in reverse so that a constant matrix gives the identity (SciPy #11602).
        let mut num_remaining = nc;
        for (it, r) in self.remaining.iter_mut().enumerate() {
            *r = nc - it - 1;
        }
        self.sr.fill(false);
        self.sc.fill(false);
        self.shortest_path_costs.fill(f64::INFINITY);

        let mut sink = NONE;
        while sink == NONE {
            let mut index = NONE;
            let mut lowest = f64::INFINITY;
            self.sr[i] = true;
            let row = &cost[i * nc..(i + 1) * nc];
            let ui = self.u[i];

            for it in 0..num_remaining {
                let j = self.remaining[it];
                let c = if MAXIMIZE { -row[j] } else { row[j] };
                let r = min_val + c - ui - self.v[j];
                if r < self.shortest_path_costs[j] {
                    self.path[j] = i;
                    self.shortest_path_costs[j] = r;
                }
                // Among equal minima, prefer a column that ends the path (a new sink).
                let spc = self.shortest_path_costs[j];
                if spc < lowest || (spc == lowest && self.row4col[j] == NONE) {
                    lowest = spc;
                    index = it;
                }
            }

            min_val = lowest;
            if min_val == f64::INFINITY {
                return None;
            }
            let j = self.remaining[index];
            if self.row4col[j] == NONE {
                sink = j;
            } else {
                i = self.row4col[j];
            }
            self.sc[j] = true;
            num_remaining -= 1;
            self.remaining[index] = self.remaining[num_remaining];
        }
        Some((sink, min_val))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scipy_docstring_example() {
        // scipy.optimize.linear_sum_assignment docstring: cost [[4,1,3],[2,0,5],[3,2,2]] → [1,0,2], 5.
        let cost = [4.0, 1.0, 3.0, 2.0, 0.0, 5.0, 3.0, 2.0, 2.0];
        let (r, c) = linear_sum_assignment(&cost, 3, 3, false).unwrap();
        assert_eq!(r, vec![0, 1, 2]);
        assert_eq!(c, vec![1, 0, 2]);
    }

    #[test]
    fn constant_matrix_gives_identity() {
        // SciPy #11602: a constant (square or wide) matrix is solved by the identity.
        for (nr, nc) in [(4, 4), (3, 7)] {
            for maximize in [false, true] {
                let (_, c) = linear_sum_assignment(&vec![2.0; nr * nc], nr, nc, maximize).unwrap();
                assert_eq!(c, (0..nr).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn tall_matrix_is_transposed() {
        // 3 × 2, maximise: best is rows 0 and 2 → columns 1 and 0 (9 + 8).
        let cost = [1.0, 9.0, 2.0, 3.0, 8.0, 1.0];
        let (r, c) = linear_sum_assignment(&cost, 3, 2, true).unwrap();
        assert_eq!(r, vec![0, 2]);
        assert_eq!(c, vec![1, 0]);
    }

    #[test]
    fn bad_inputs() {
        assert!(linear_sum_assignment(&[1.0; 5], 2, 3, false).is_err());
        assert!(linear_sum_assignment(&[1.0, f64::NAN], 1, 2, false).is_err());
        assert!(linear_sum_assignment(&[1.0, f64::INFINITY], 1, 2, true).is_err());
        assert!(linear_sum_assignment(&[1.0, f64::NEG_INFINITY], 1, 2, false).is_err());
        // +inf is allowed when minimising, unless it makes the problem infeasible.
        assert_eq!(
            linear_sum_assignment(&[f64::INFINITY, 1.0], 1, 2, false).unwrap().1,
            vec![1]
        );
        assert!(linear_sum_assignment(&[f64::INFINITY; 4], 2, 2, false).is_err());
        assert_eq!(linear_sum_assignment(&[], 0, 3, false).unwrap(), (vec![], vec![]));
    }
}
