//! How far two segmentations of the same cells agree, up to a renaming of the segments: the
//! fraction of cells that keep their segment under the best one-to-one matching of segment ids
//! (a maximum-weight matching of the contingency table). 1.0 means the same partition.

use std::collections::BTreeMap;

use super::lsap::linear_sum_assignment;
use crate::{Error, Result};

/// Fraction of cells on which `a` and `b` agree under the best one-to-one relabelling.
pub fn partition_agreement(a: &[u32], b: &[u32]) -> Result<f64> {
    if a.len() != b.len() {
        return Err(Error::InvalidParameter {
            name: "labels",
            expected: "two labelings of the same cells",
            got: format!("{} and {} labels", a.len(), b.len()),
        });
    }
    if a.is_empty() {
        return Ok(1.0);
    }
    // Compact ids, then the contingency table [ka, kb].
    let ids = |v: &[u32]| {
        let mut map = BTreeMap::new();
        let idx: Vec<usize> = v
            .iter()
            .map(|x| {
                let next = map.len();
                *map.entry(*x).or_insert(next)
            })
            .collect();
        (idx, map.len())
    };
    let ((ia, ka), (ib, kb)) = (ids(a), ids(b));
    let mut table = vec![0.0f64; ka * kb];
    for (&x, &y) in ia.iter().zip(&ib) {
        table[x * kb + y] += 1.0;
    }
    let (rows, cols) = linear_sum_assignment(&table, ka, kb, true)?;
    let hits: f64 = rows.iter().zip(&cols).map(|(&r, &c)| table[r * kb + c]).sum();
    Ok(hits / a.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renaming_does_not_matter_and_merges_cost_the_smaller_part() {
        assert_eq!(partition_agreement(&[0, 0, 1, 1, 2], &[7, 7, 3, 3, 9]).unwrap(), 1.0);
        // b merges a's segments 1 and 2: one of them (1 cell) is lost.
        assert_eq!(partition_agreement(&[0, 0, 1, 1, 2], &[5, 5, 6, 6, 6]).unwrap(), 0.8);
        assert!(partition_agreement(&[0], &[0, 1]).is_err());
    }
}
