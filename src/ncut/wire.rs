//! What crosses between the page's two workers ([`super::Helper`]), as flat typed arrays (JSON
//! would round floats and cost more than the work it moves): Gram tiles as `(row, col)` pairs;
//! a subtree job as its `W_S`, one byte per cell (1: excluded below the root) and its
//! parameters; the subtree's nodes as `f64`s.
//!
//! ```text
//! tiles:          [row, col, row, col, …]
//! job parameters: [depth, τ_max, mode (0 official, 1 clean), Lanczos tol, Lanczos max_iter]
//! nodes:          [count, node…]
//! node:           [depth, parent | −1, child₀ | −1, child₁ | −1, len, cells…, cut (0 | 1), cut…]
//! cut:            [ncut, λ, θ, Lanczos steps, len, fiedler…, len, curve… (NaN: none), len, thresholds…]
//! ```

use super::affinity::GramTile;
use super::lanczos::LanczosOptions;
use super::tree::{Mode, NodeCut, SubtreeJob, TreeNode, TreeOptions};
use crate::{Error, Result};

/// Tiles as flat `(row, col)` pairs.
pub fn encode_tiles(tiles: &[GramTile]) -> Vec<u32> {
    tiles.iter().flat_map(|t| [t.row as u32, t.col as u32]).collect()
}

/// The tiles of [`encode_tiles`] (whether they lie in a Gram matrix is
/// [`super::affinity::tile_products`]'s to check).
pub fn decode_tiles(pairs: &[u32]) -> Result<Vec<GramTile>> {
    if !pairs.len().is_multiple_of(2) {
        return Err(Error::InvalidParameter {
            name: "tiles",
            expected: "(row, col) pairs",
            got: format!("{} indices", pairs.len()),
        });
    }
    Ok(pairs
        .chunks_exact(2)
        .map(|p| GramTile {
            row: p[0] as usize,
            col: p[1] as usize,
        })
        .collect())
}

/// A job's excluded cells (one byte each) and parameters; its `W_S` travels as it is.
pub fn encode_job(job: &SubtreeJob) -> (Vec<u8>, [f64; 5]) {
    (
        job.excluded.iter().map(|&e| u8::from(e)).collect(),
        job_params(job.depth, &job.opts),
    )
}

/// The job of [`encode_job`] with its `W_S` (whose sizes [`super::tree::grow_subtree`] checks).
pub fn decode_job(w: Vec<f32>, excluded: &[u8], params: &[f64]) -> Result<SubtreeJob> {
    let (depth, opts) = parse_job_params(params)?;
    Ok(SubtreeJob {
        w,
        excluded: excluded.iter().map(|&b| b != 0).collect(),
        depth,
        opts,
    })
}

/// A job's parameters (all but `W_S` and the excluded cells) as the helper receives them.
pub fn job_params(depth: u32, opts: &TreeOptions) -> [f64; 5] {
    let mode = match opts.mode {
        Mode::Official => 0.0,
        Mode::Clean => 1.0,
    };
    [
        f64::from(depth),
        opts.tau_max,
        mode,
        opts.lanczos.tol,
        opts.lanczos.max_iter as f64,
    ]
}

/// The depth and options of [`job_params`].
pub fn parse_job_params(p: &[f64]) -> Result<(u32, TreeOptions)> {
    let bad = || Error::InvalidParameter {
        name: "subtree job",
        expected: "[depth, τ_max, mode 0 | 1, Lanczos tol > 0, Lanczos max_iter ≥ 1]",
        got: format!("{p:?}"),
    };
    let &[depth, tau_max, mode, tol, max_iter] = p else {
        return Err(bad());
    };
    let mode = match mode {
        0.0 => Mode::Official,
        1.0 => Mode::Clean,
        _ => return Err(bad()),
    };
    let int = |v: f64, max: f64| (v.fract() == 0.0 && (0.0..=max).contains(&v)).then_some(v);
    let (Some(depth), Some(max_iter)) = (int(depth, 64.0), int(max_iter, 1e6)) else {
        return Err(bad());
    };
    if !(tol.is_finite() && tol > 0.0) || max_iter < 1.0 {
        return Err(bad());
    }
    let opts = TreeOptions {
        tau_max,
        mode,
        lanczos: LanczosOptions {
            tol,
            max_iter: max_iter as usize,
        },
    };
    Ok((depth as u32, opts))
}

/// `nodes` as one flat array (see the module's docs).
pub fn encode_nodes(nodes: &[TreeNode]) -> Vec<f64> {
    let index = |i: Option<u32>| i.map_or(-1.0, f64::from);
    let mut out = vec![nodes.len() as f64];
    for node in nodes {
        let [c0, c1] = node.children.map_or([None, None], |[a, b]| [Some(a), Some(b)]);
        out.extend([f64::from(node.depth), index(node.parent), index(c0), index(c1)]);
        out.push(node.cells.len() as f64);
        out.extend(node.cells.iter().map(|&c| f64::from(c)));
        match &node.cut {
            None => out.push(0.0),
            Some(cut) => {
                out.extend([1.0, cut.ncut, cut.lambda, cut.threshold, cut.lanczos_steps as f64]);
                out.push(cut.fiedler.len() as f64);
                out.extend(&cut.fiedler);
                out.push(cut.curve.len() as f64);
                out.extend(cut.curve.iter().map(|v| v.unwrap_or(f64::NAN)));
                out.push(cut.thresholds.len() as f64);
                out.extend(&cut.thresholds);
            }
        }
    }
    out
}

/// The nodes of [`encode_nodes`], or [`Error::Helper`] naming where the array stops making sense.
/// Checks the encoding only; the tree's shape is the caller's to check.
pub fn decode_nodes(data: &[f64]) -> Result<Vec<TreeNode>> {
    let mut r = Reader { data, at: 0 };
    let count = r.len()?;
    let mut nodes = Vec::with_capacity(count);
    for _ in 0..count {
        let depth = r.int(f64::from(u32::MAX))? as u32;
        let parent = r.index()?;
        let children = match (r.index()?, r.index()?) {
            (Some(a), Some(b)) => Some([a, b]),
            (None, None) => None,
            _ => return Err(r.bad("a node with one child")),
        };
        let len = r.len()?;
        let cells = (0..len)
            .map(|_| r.int(f64::from(u32::MAX)).map(|c| c as u32))
            .collect::<Result<_>>()?;
        let cut = match r.int(1.0)? {
            0.0 => None,
            _ => {
                let (ncut, lambda, threshold) = (r.finite()?, r.finite()?, r.finite()?);
                let lanczos_steps = r.int(1e9)? as usize;
                let n = r.len()?;
                let fiedler = (0..n).map(|_| r.finite()).collect::<Result<_>>()?;
                let n = r.len()?;
                let curve = (0..n)
                    .map(|_| r.next().map(|v| v.is_finite().then_some(v)))
                    .collect::<Result<_>>()?;
                let n = r.len()?;
                let thresholds = (0..n).map(|_| r.finite()).collect::<Result<_>>()?;
                Some(NodeCut {
                    ncut,
                    lambda,
                    threshold,
                    fiedler,
                    curve,
                    thresholds,
                    lanczos_steps,
                })
            }
        };
        nodes.push(TreeNode {
            cells,
            depth,
            parent,
            cut,
            children,
        });
    }
    if r.at != data.len() {
        return Err(r.bad("values after the last node"));
    }
    Ok(nodes)
}

struct Reader<'a> {
    data: &'a [f64],
    at: usize,
}

impl Reader<'_> {
    fn bad(&self, what: &str) -> Error {
        Error::Helper(format!("its subtree does not decode at value {}: {what}", self.at))
    }

    fn next(&mut self) -> Result<f64> {
        let v = *self.data.get(self.at).ok_or_else(|| self.bad("the array ends early"))?;
        self.at += 1;
        Ok(v)
    }

    fn finite(&mut self) -> Result<f64> {
        let v = self.next()?;
        if v.is_finite() {
            Ok(v)
        } else {
            Err(self.bad("a value that is not finite"))
        }
    }

    /// A whole number in `0..=max`.
    fn int(&mut self, max: f64) -> Result<f64> {
        let v = self.next()?;
        if v.fract() == 0.0 && (0.0..=max).contains(&v) {
            Ok(v)
        } else {
            Err(self.bad("not a count or an index"))
        }
    }

    /// A length no longer than what is left (so nothing huge is allocated).
    fn len(&mut self) -> Result<usize> {
        let left = (self.data.len() - self.at) as f64;
        self.int(left)
            .map(|v| v as usize)
            .map_err(|_| self.bad("a length longer than the array"))
    }

    /// A node index, or −1 for none.
    fn index(&mut self) -> Result<Option<u32>> {
        if self.data.get(self.at) == Some(&-1.0) {
            self.at += 1;
            return Ok(None);
        }
        self.int(f64::from(u32::MAX)).map(|v| Some(v as u32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ncut::tree::grow_subtree;
    use crate::ncut::tree::SubtreeJob;

    fn subtree() -> Vec<TreeNode> {
        let f = crate::synth::smooth_field(10, 12, 16, 2.0, 4);
        let aff = crate::ncut::affinity(&f.data, 120, 16, 10.0).unwrap();
        let excluded = (0..120).map(|i| aff.row(i).contains(&0.0)).collect();
        let opts = TreeOptions {
            tau_max: 0.8,
            ..Default::default()
        };
        grow_subtree(SubtreeJob {
            w: aff.w,
            excluded,
            depth: 1,
            opts,
        })
        .unwrap()
    }

    #[test]
    fn nodes_round_trip_exactly() {
        let mut nodes = subtree();
        assert!(nodes.len() > 5, "{} nodes", nodes.len());
        // A threshold with an empty side (NaN on the wire).
        nodes[0].cut.as_mut().unwrap().curve[0] = None;
        assert_eq!(decode_nodes(&encode_nodes(&nodes)).unwrap(), nodes);
    }

    #[test]
    fn a_broken_array_is_an_error_not_a_panic() {
        let data = encode_nodes(&subtree());
        for cut in [0, 1, 7, data.len() / 2, data.len() - 1] {
            let e = decode_nodes(&data[..cut]).unwrap_err().to_string();
            assert!(e.contains("does not decode"), "{e}");
        }
        let mut longer = data.clone();
        longer.push(0.0);
        assert!(decode_nodes(&longer)
            .unwrap_err()
            .to_string()
            .contains("after the last node"));
        for (at, v) in [(0, 1e300), (0, -2.0), (1, 0.5), (2, -3.0), (5, f64::NAN)] {
            let mut bad = data.clone();
            bad[at] = v;
            assert!(decode_nodes(&bad).is_err(), "value {v} at {at}");
        }
    }

    #[test]
    fn job_params_round_trip_and_are_checked() {
        let opts = TreeOptions {
            tau_max: 0.7,
            mode: Mode::Clean,
            lanczos: LanczosOptions {
                tol: 1e-7,
                max_iter: 300,
            },
        };
        let (depth, back) = parse_job_params(&job_params(3, &opts)).unwrap();
        assert_eq!(
            (depth, back.tau_max, back.mode, back.lanczos.tol, back.lanczos.max_iter),
            (3, 0.7, Mode::Clean, 1e-7, 300)
        );
        for bad in [
            &[1.0, 0.5, 2.0, 1e-6, 400.0][..],
            &[1.5, 0.5, 0.0, 1e-6, 400.0],
            &[1.0, 0.5, 0.0, 0.0, 400.0],
            &[1.0, 0.5, 0.0, 1e-6, 0.0],
            &[1.0],
        ] {
            assert!(parse_job_params(bad).is_err(), "{bad:?}");
        }
    }
}
