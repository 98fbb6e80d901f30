//! Work units -> COPY batches. Pure.
//!
//! The generator's work units (telemetry blocks, or wells for diagnostics) are numbered
//! 0..n. A batch is a run of consecutive units whose estimated rows reach about the batch
//! size; its key is the index of its first unit. Units that the ledger already records as
//! loaded are skipped, and a batch never spans a loaded unit, so a re-run with a different
//! batch size still loads every remaining unit exactly once.

use crate::db::copy::LedgerBatch;

/// One COPY batch: units `first_unit .. first_unit + units`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batch {
    pub first_unit: u64,
    pub units: u64,
    /// The generator's estimate of the rows (for progress only; the ledger records the
    /// exact count COPY reported).
    pub est_rows: u64,
}

impl Batch {
    /// The ledger key.
    pub fn key(&self) -> u64 {
        self.first_unit
    }

    pub fn unit_range(&self) -> std::ops::Range<usize> {
        self.first_unit as usize..(self.first_unit + self.units) as usize
    }
}

/// Which units the ledger covers, as a bitmap over `n_units`. Errors when a ledger entry
/// lies outside the units (the ledger belongs to a different fleet).
pub fn loaded_units(n_units: usize, done: &[LedgerBatch]) -> Result<Vec<bool>, String> {
    let mut loaded = vec![false; n_units];
    for b in done {
        let end = b
            .first_unit
            .checked_add(b.units)
            .ok_or("ledger entry overflows")?;
        if end as usize > n_units {
            return Err(format!(
                "ledger entry for units {}..{} lies beyond the {} units of this fleet",
                b.first_unit, end, n_units
            ));
        }
        for u in b.first_unit..end {
            if loaded[u as usize] {
                return Err(format!("ledger records unit {u} twice"));
            }
            loaded[u as usize] = true;
        }
    }
    Ok(loaded)
}

/// Group the units not yet loaded into batches of about `batch_size` estimated rows (at least
/// one unit each), in unit order.
pub fn plan_batches(est_rows: &[u64], loaded: &[bool], batch_size: u64) -> Vec<Batch> {
    let batch_size = batch_size.max(1);
    let mut out = Vec::new();
    let mut cur: Option<Batch> = None;
    for (i, &rows) in est_rows.iter().enumerate() {
        if loaded.get(i).copied().unwrap_or(false) {
            if let Some(b) = cur.take() {
                out.push(b);
            }
            continue;
        }
        let b = cur.get_or_insert(Batch {
            first_unit: i as u64,
            units: 0,
            est_rows: 0,
        });
        b.units += 1;
        b.est_rows += rows;
        if b.est_rows >= batch_size {
            out.extend(cur.take());
        }
    }
    out.extend(cur);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn groups_units_up_to_batch_size() {
        let b = plan_batches(&[10, 10, 10, 10, 10], &[false; 5], 25);
        assert_eq!(
            b,
            vec![
                Batch {
                    first_unit: 0,
                    units: 3,
                    est_rows: 30
                },
                Batch {
                    first_unit: 3,
                    units: 2,
                    est_rows: 20
                },
            ]
        );
    }

    #[test]
    fn loaded_units_split_batches() {
        let done = [LedgerBatch {
            first_unit: 1,
            units: 2,
            rows: 20,
        }];
        let loaded = loaded_units(5, &done).unwrap();
        let b = plan_batches(&[10; 5], &loaded, 100);
        assert_eq!(
            b,
            vec![
                Batch {
                    first_unit: 0,
                    units: 1,
                    est_rows: 10
                },
                Batch {
                    first_unit: 3,
                    units: 2,
                    est_rows: 20
                },
            ]
        );
    }

    #[test]
    fn foreign_ledger_is_refused() {
        let done = [LedgerBatch {
            first_unit: 4,
            units: 2,
            rows: 1,
        }];
        assert!(loaded_units(5, &done).is_err());
        let twice = [
            LedgerBatch {
                first_unit: 0,
                units: 2,
                rows: 1,
            },
            LedgerBatch {
                first_unit: 1,
                units: 1,
                rows: 1,
            },
        ];
        assert!(loaded_units(5, &twice).is_err());
    }

    proptest! {
        /// Every unit not loaded is in exactly one batch; no loaded unit is in any batch.
        #[test]
        fn batches_cover_remaining_units_exactly_once(
            rows in proptest::collection::vec(0u64..50, 0..60),
            loaded_mask in proptest::collection::vec(any::<bool>(), 60),
            batch_size in 1u64..200,
        ) {
            let loaded = &loaded_mask[..rows.len()];
            let batches = plan_batches(&rows, loaded, batch_size);
            let mut seen = vec![0u32; rows.len()];
            for b in &batches {
                prop_assert!(b.units >= 1);
                for u in b.unit_range() {
                    seen[u] += 1;
                }
            }
            for (i, &n) in seen.iter().enumerate() {
                prop_assert_eq!(n, u32::from(!loaded[i]));
            }
        }
    }
}
