//! Size models of TimescaleDB's column compression, written from the published description of
//! the algorithms (not from its code): how many bytes one compressed batch of one column takes.
//!
//! - **Simple-8b with RLE** packs unsigned integers into 64-bit blocks. A block is either a
//!   run (one value up to 36 bits repeated up to 2^28 times) or a bit-packing of n values of
//!   b bits each, with (n, b) from a fixed table. Each block carries a 4-bit selector; the
//!   selectors are stored 16 to a 64-bit word after an 8-byte header.
//! - **Gorilla** (floats): each value is XORed with the previous one. A zero XOR costs one tag
//!   bit. Otherwise a second tag bit says whether the previous (leading, trailing) zero window
//!   still covers it; if not, a new window is written (6 bits of leading zeros into a bit
//!   array, the width into a Simple-8b stream). The meaningful XOR bits go to a bit array.
//!   TimescaleDB keeps the old window only when the new one is inside it and wastes at most
//!   12 bits. The two tag streams are Simple-8b, so long runs of repeats are almost free.
//! - **Delta-delta** (integers, timestamps): the zigzag-encoded second difference, in
//!   Simple-8b. A regular time column costs almost nothing.
//!
//! NULLs add a Simple-8b stream of one flag per row (only when the batch has a NULL). A batch
//! of only NULLs stores no datum at all (SQL NULL). A datum is stored without PostgreSQL's own
//! compression (TimescaleDB sets the column storage to EXTERNAL), so its size is what these
//! functions return. Header sizes are the on-disk layouts (24-byte datum headers with the
//! varlena length word).

/// Rows per compressed batch (TimescaleDB's target batch size).
pub const BATCH_ROWS: usize = 1000;

/// Bytes of a Gorilla or delta-delta datum header (varlena length word included).
pub const DATUM_HEADER: usize = 24;

/// Elements per block and bits per element of the bit-packing selectors, narrowest first.
const PACKINGS: [(u32, u32); 14] = [
    (64, 1),
    (32, 2),
    (21, 3),
    (16, 4),
    (12, 5),
    (10, 6),
    (9, 7),
    (8, 8),
    (6, 10),
    (5, 12),
    (4, 16),
    (3, 21),
    (2, 32),
    (1, 64),
];
/// Largest value a run block can hold.
const RLE_MAX_VALUE: u64 = (1 << 36) - 1;

#[inline]
fn bits_of(v: u64) -> u32 {
    64 - v.leading_zeros()
}

/// Index into `PACKINGS` of the narrowest packing that holds `bits`-bit values.
#[inline]
fn packing_for(bits: u32) -> usize {
    PACKINGS
        .iter()
        .position(|&(_, b)| b >= bits)
        .unwrap_or(PACKINGS.len() - 1)
}

/// Counts Simple-8b blocks for a stream of values fed one at a time, without storing them.
///
/// Greedy model: a run long enough to fill a block on its own becomes a run block; otherwise
/// values are packed with the narrowest packing that holds every value in the block. This is
/// the textbook encoder; TimescaleDB's may place block boundaries slightly differently, which
/// moves a batch by a few bytes at most.
#[derive(Debug, Clone, Default)]
pub struct Simple8b {
    values: u64,
    blocks: u64,
    /// Pending (value, repeat count) runs not yet in a block.
    pending: Vec<(u64, u32)>,
}

impl Simple8b {
    pub fn new() -> Simple8b {
        Simple8b::default()
    }

    pub fn push(&mut self, v: u64) {
        self.values += 1;
        match self.pending.last_mut() {
            Some((last, n)) if *last == v && *n < u32::MAX => *n += 1,
            _ => self.pending.push((v, 1)),
        }
        if self.pending.len() >= 128 {
            self.flush(false);
        }
    }

    /// Values pushed so far.
    pub fn len(&self) -> u64 {
        self.values
    }

    pub fn is_empty(&self) -> bool {
        self.values == 0
    }

    /// Pack pending runs into blocks. Unless `all`, stop while the remaining runs could still
    /// join a block with values not pushed yet.
    fn flush(&mut self, all: bool) {
        let mut i = 0;
        let mut runs = std::mem::take(&mut self.pending);
        // The last run may still grow, so it is only decided at the end.
        let held = if all { None } else { runs.pop() };
        while i < runs.len() {
            let (v, n) = runs[i];
            let p = packing_for(bits_of(v));
            let (_, width) = PACKINGS[p];
            if v <= RLE_MAX_VALUE && width as u64 * n as u64 >= 64 {
                // The run fills a block by itself: one run block.
                self.blocks += 1;
                i += 1;
                continue;
            }
            if v > RLE_MAX_VALUE && width as u64 * n as u64 >= 64 {
                // Too wide for a run block: one full 64-bit block per repeat.
                self.blocks += n as u64;
                i += 1;
                continue;
            }
            // Pack runs from i on while the widest value so far still leaves room.
            let mut p = p;
            let mut count: u64 = 0;
            let mut j = i;
            let mut complete = false;
            while j < runs.len() {
                let (vj, nj) = runs[j];
                let pj = p.max(packing_for(bits_of(vj)));
                let cap = PACKINGS[pj].0 as u64;
                if count >= cap {
                    complete = true;
                    break;
                }
                p = pj;
                let take = (cap - count).min(nj as u64);
                count += take;
                if take < nj as u64 {
                    // Part of this run goes in the block, the rest stays.
                    runs[j].1 = nj - take as u32;
                    complete = true;
                    break;
                }
                j += 1;
                if count == cap {
                    complete = true;
                    break;
                }
            }
            if !complete && !all {
                // Not enough values to decide this block yet: keep runs i.. pending.
                break;
            }
            self.blocks += 1;
            i = j;
        }
        self.pending = runs.split_off(i.min(runs.len()));
        self.pending.extend(held);
    }

    /// Serialized bytes of the stream: 8-byte header, the blocks, and their selectors.
    pub fn bytes(&mut self) -> usize {
        if self.values == 0 {
            return 0;
        }
        self.flush(true);
        let blocks = self.blocks as usize;
        8 + 8 * (blocks + blocks.div_ceil(16))
    }
}

/// Bytes of a bit array of `bits` bits (64-bit buckets).
#[inline]
fn bit_array_bytes(bits: u64) -> usize {
    (bits.div_ceil(64) * 8) as usize
}

/// Where the bytes of a compressed batch go (sums over batches add up).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct BatchBytes {
    /// Datum headers and the Simple-8b headers: what a batch costs however its values move.
    pub fixed: usize,
    /// Everything that grows with the values: tag streams, windows, XOR bits, NULL flags.
    pub payload: usize,
}

impl BatchBytes {
    pub fn total(&self) -> usize {
        self.fixed + self.payload
    }

    pub fn add(&mut self, o: BatchBytes) {
        self.fixed += o.fixed;
        self.payload += o.payload;
    }
}

fn s8b_split(s: &mut Simple8b) -> (usize, usize) {
    let b = s.bytes();
    if b == 0 {
        (0, 0)
    } else {
        (8, b - 8)
    }
}

/// Gorilla-compressed size of one batch of doubles in storage order. `None` when every value
/// is NULL (no datum is stored).
pub fn gorilla_batch(values: &[Option<f64>]) -> Option<BatchBytes> {
    let mut tag0 = Simple8b::new();
    let mut tag1 = Simple8b::new();
    let mut widths = Simple8b::new();
    let mut nulls = Simple8b::new();
    let mut lz_bits = 0u64;
    let mut xor_bits = 0u64;
    let mut has_nulls = false;
    let mut prev = 0u64;
    let (mut prev_lead, mut prev_trail) = (0u32, 0u32);
    let mut first = true;
    for v in values {
        let Some(v) = v else {
            nulls.push(1);
            has_nulls = true;
            continue;
        };
        nulls.push(0);
        let bits = v.to_bits();
        let xor = prev ^ bits;
        prev = bits;
        if !first && xor == 0 {
            tag0.push(0);
            continue;
        }
        let (lead, trail) = if xor == 0 {
            (63, 1)
        } else {
            (xor.leading_zeros(), xor.trailing_zeros())
        };
        tag0.push(1);
        let reuse = !first
            && lead >= prev_lead
            && trail >= prev_trail
            && (lead - prev_lead) + (trail - prev_trail) <= 12;
        tag1.push(if reuse { 0 } else { 1 });
        if !reuse {
            prev_lead = lead;
            prev_trail = trail;
            lz_bits += 6;
            widths.push(64 - (lead + trail) as u64);
        }
        xor_bits += 64 - (prev_lead + prev_trail) as u64;
        first = false;
    }
    if first {
        return None;
    }
    let mut fixed = DATUM_HEADER;
    let mut payload = bit_array_bytes(lz_bits) + bit_array_bytes(xor_bits);
    for s in [&mut tag0, &mut tag1, &mut widths] {
        let (f, p) = s8b_split(s);
        fixed += f;
        payload += p;
    }
    if has_nulls {
        let (f, p) = s8b_split(&mut nulls);
        fixed += f;
        payload += p;
    }
    Some(BatchBytes { fixed, payload })
}

#[inline]
fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Delta-delta-compressed size of one batch of integers (or timestamps in microseconds) in
/// storage order. `None` when every value is NULL.
pub fn deltadelta_batch(values: &[Option<i64>]) -> Option<BatchBytes> {
    let mut dd = Simple8b::new();
    let mut nulls = Simple8b::new();
    let (mut prev, mut prev_delta) = (0i64, 0i64);
    let mut has_nulls = false;
    for v in values {
        match v {
            None => {
                nulls.push(1);
                has_nulls = true;
            }
            Some(v) => {
                nulls.push(0);
                let delta = v.wrapping_sub(prev);
                dd.push(zigzag(delta.wrapping_sub(prev_delta)));
                prev = *v;
                prev_delta = delta;
            }
        }
    }
    if dd.is_empty() {
        return None;
    }
    let (f, p) = s8b_split(&mut dd);
    let mut out = BatchBytes {
        fixed: DATUM_HEADER + f,
        payload: p,
    };
    if has_nulls {
        let (f, p) = s8b_split(&mut nulls);
        out.fixed += f;
        out.payload += p;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash_unit(i: u64) -> f64 {
        let mut z = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn s8b(values: &[u64]) -> usize {
        let mut s = Simple8b::new();
        for &v in values {
            s.push(v);
        }
        s.bytes()
    }

    #[test]
    fn simple8b_packs_runs_and_widths() {
        // 1000 equal small values: one run block + one selector word.
        assert_eq!(s8b(&[3; 1000]), 8 + 8 * 2);
        // 64 alternating bits: one 1-bit packing.
        let alt: Vec<u64> = (0..64).map(|i| i % 2).collect();
        assert_eq!(s8b(&alt), 8 + 8 * 2);
        // 10 values of 6 bits need one block of 10; 11 need two.
        assert_eq!(s8b(&[33, 40, 50, 60, 33, 40, 50, 60, 33, 40]), 8 + 8 * 2);
        assert_eq!(
            s8b(&[33, 40, 50, 60, 33, 40, 50, 60, 33, 40, 41]),
            8 + 8 * 3
        );
        // A 64-bit value takes a block on its own.
        assert_eq!(s8b(&[u64::MAX, 1]), 8 + 8 * 3);
        // 17 blocks need two selector words.
        let wide: Vec<u64> = (0..17).map(|i| u64::MAX - i).collect();
        assert_eq!(s8b(&wide), 8 + 8 * (17 + 2));
        assert_eq!(s8b(&[]), 0);
    }

    #[test]
    fn simple8b_counts_the_same_in_any_push_rhythm() {
        // Flushing every 128 runs must not change the count against one big flush.
        let vals: Vec<u64> = (0..5000u64)
            .map(|i| (i * 7919) % 13 + (i % 300 == 0) as u64 * 900)
            .collect();
        let mut a = Simple8b::new();
        for &v in &vals {
            a.push(v);
        }
        let mut blocks_alone = 0;
        // Reference: pack by the same rules over the whole slice at once.
        let mut b = Simple8b::new();
        b.values = vals.len() as u64;
        for &v in &vals {
            match b.pending.last_mut() {
                Some((l, n)) if *l == v => *n += 1,
                _ => b.pending.push((v, 1)),
            }
        }
        blocks_alone += b.bytes();
        assert_eq!(a.bytes(), blocks_alone);
    }

    #[test]
    fn gorilla_costs_follow_the_bits() {
        // A constant batch costs only its headers and a few words.
        let c = gorilla_batch(&[Some(42.0); 1000]).expect("values");
        assert!(c.total() < 130, "{c:?}");
        // All NULL: no datum.
        assert_eq!(gorilla_batch(&[None; 10]), None);
        // Whole numbers changing by 1 cost far less than random doubles.
        let ints: Vec<Option<f64>> = (0..1000).map(|i| Some(2000.0 + (i % 7) as f64)).collect();
        let noisy: Vec<Option<f64>> = (0..1000u64).map(|i| Some(hash_unit(i) * 1000.0)).collect();
        let (a, b) = (
            gorilla_batch(&ints).expect("v").total(),
            gorilla_batch(&noisy).expect("v").total(),
        );
        assert!(a < 3000 && b > 6500, "{a} {b}");
        // NULLs add a flag stream.
        let mut with_null = ints.clone();
        with_null[500] = None;
        assert!(gorilla_batch(&with_null).expect("v").total() > a);
    }

    #[test]
    fn deltadelta_of_a_regular_clock_is_tiny() {
        let ts: Vec<Option<i64>> = (0..1000)
            .map(|i| Some(1_700_000_000_000_000 - i * 1_000_000))
            .collect();
        let b = deltadelta_batch(&ts).expect("values");
        // Header, and three blocks: the first value, the first delta, then a run of zeros.
        assert!(b.total() <= DATUM_HEADER + 8 + 8 * 5, "{b:?}");
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(deltadelta_batch(&[None, None]), None);
    }
}
