//! Row encoders for PostgreSQL `COPY ... FROM STDIN`: binary format (what the loader sends) and
//! CSV (`psql \copy ... with (format csv)`). Pure functions appending to any `BufMut`
//! (`BytesMut`, `Vec<u8>`); no allocation per row.
//!
//! Binary layout (PostgreSQL docs, "COPY, Binary Format"): an 19-byte header, then per row an
//! i16 field count and for each field an i32 byte length (-1 = NULL) and the value in network
//! byte order: timestamptz is i64 microseconds since 2000-01-01 UTC, float8 an IEEE double, text
//! raw UTF-8. The trailer is an i16 -1. CSV: no header line, NULL is an empty unquoted field,
//! timestamps are ISO 8601 with an explicit `+00` offset.

use std::fmt::Write as _;

use bytes::BufMut;

use super::{DiagnosticRow, TelemetryRow};

/// Microseconds between the Unix epoch and the PostgreSQL epoch (2000-01-01 00:00:00 UTC).
pub const PG_EPOCH_OFFSET_US: i64 = 946_684_800_000_000;

const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// Decimal digits of each channel's resolution (`CHANNEL_RESOLUTION`), for CSV.
pub(crate) const CSV_DECIMALS: [usize; super::CHANNELS] = [2, 1, 0, 0, 0, 2, 2, 3, 1];

/// Number of fields in one `esp_telemetry` COPY row.
pub const TELEMETRY_FIELDS: i16 = 11;
/// Number of fields in one `diagnostic_results` COPY row.
pub const DIAGNOSTIC_FIELDS: i16 = 6;

/// The binary COPY header: signature, flags (no OIDs), empty header extension.
pub fn binary_header(buf: &mut impl BufMut) {
    buf.put_slice(SIGNATURE);
    buf.put_i32(0);
    buf.put_i32(0);
}

/// The binary COPY trailer (field count -1).
pub fn binary_trailer(buf: &mut impl BufMut) {
    buf.put_i16(-1);
}

#[inline(always)]
fn put_ts(buf: &mut impl BufMut, ts_us: i64) {
    buf.put_i32(8);
    buf.put_i64(ts_us - PG_EPOCH_OFFSET_US);
}

#[inline(always)]
fn put_text(buf: &mut impl BufMut, s: &str) {
    buf.put_i32(s.len() as i32);
    buf.put_slice(s.as_bytes());
}

#[inline(always)]
fn put_f64_opt(buf: &mut impl BufMut, v: Option<f64>) {
    match v {
        Some(v) => {
            buf.put_i32(8);
            buf.put_f64(v);
        }
        None => buf.put_i32(-1),
    }
}

/// One telemetry row in binary COPY format, columns in `TELEMETRY_COLUMNS` order.
#[inline]
pub fn telemetry_binary(row: &TelemetryRow, buf: &mut impl BufMut) {
    // Assemble the tuple on the stack and append it with one copy: the hot path of every load.
    let mut t = [0u8; 2 + 12 + 4 + 16 + super::CHANNELS * 12];
    t[0..2].copy_from_slice(&TELEMETRY_FIELDS.to_be_bytes());
    t[2..6].copy_from_slice(&8i32.to_be_bytes());
    t[6..14].copy_from_slice(&(row.ts_us - PG_EPOCH_OFFSET_US).to_be_bytes());
    let id = row.well_id.as_str().as_bytes();
    t[14..18].copy_from_slice(&(id.len() as i32).to_be_bytes());
    let mut n = 18 + id.len();
    t[18..n].copy_from_slice(id);
    for v in row.values() {
        match v {
            Some(v) => {
                t[n..n + 4].copy_from_slice(&8i32.to_be_bytes());
                t[n + 4..n + 12].copy_from_slice(&v.to_be_bytes());
                n += 12;
            }
            None => {
                t[n..n + 4].copy_from_slice(&(-1i32).to_be_bytes());
                n += 4;
            }
        }
    }
    buf.put_slice(&t[..n]);
}

/// One diagnostic row in binary COPY format, columns in `DIAGNOSTIC_COLUMNS` order.
pub fn diagnostic_binary(row: &DiagnosticRow, buf: &mut impl BufMut) {
    buf.put_i16(DIAGNOSTIC_FIELDS);
    put_ts(buf, row.ts_us);
    put_text(buf, row.well_id.as_str());
    put_text(buf, row.condition.as_str());
    put_text(buf, row.severity.as_str());
    put_f64_opt(buf, Some(row.confidence));
    put_text(buf, &row.message);
}

/// A fixed stack buffer for formatting numbers without allocating.
struct Stack {
    buf: [u8; 48],
    len: usize,
}

impl Stack {
    fn new() -> Stack {
        Stack {
            buf: [0; 48],
            len: 0,
        }
    }
    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl std::fmt::Write for Stack {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Days since 1970-01-01 -> (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[inline(always)]
fn digits2(n: u32) -> [u8; 2] {
    [b'0' + (n / 10 % 10) as u8, b'0' + (n % 10) as u8]
}

/// Append a timestamp as `YYYY-MM-DD HH:MM:SS[.ffffff]+00` (PostgreSQL timestamptz input).
pub fn timestamp_text(ts_us: i64, buf: &mut impl BufMut) {
    let secs = ts_us.div_euclid(1_000_000);
    let micros = ts_us.rem_euclid(1_000_000) as u32;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u32;
    let (y, m, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        // Outside four-digit years: let the formatter handle sign and width.
        let mut s = Stack::new();
        let _ = write!(
            s,
            "{y}-{m:02}-{d:02} {:02}:{:02}:{:02}",
            sod / 3600,
            (sod / 60) % 60,
            sod % 60
        );
        buf.put_slice(s.bytes());
    } else {
        let y = y as u32;
        let mut t = *b"0000-00-00 00:00:00";
        t[0..2].copy_from_slice(&digits2(y / 100));
        t[2..4].copy_from_slice(&digits2(y % 100));
        t[5..7].copy_from_slice(&digits2(m));
        t[8..10].copy_from_slice(&digits2(d));
        t[11..13].copy_from_slice(&digits2(sod / 3600));
        t[14..16].copy_from_slice(&digits2((sod / 60) % 60));
        t[17..19].copy_from_slice(&digits2(sod % 60));
        buf.put_slice(&t);
    }
    if micros != 0 {
        let mut f = *b".000000";
        let mut m = micros;
        for i in (1..7).rev() {
            f[i] = b'0' + (m % 10) as u8;
            m /= 10;
        }
        buf.put_slice(&f);
    }
    buf.put_slice(b"+00");
}

/// Append `,` and a double. Values on a decimal grid of `decimals` digits (every generated
/// channel value is) are written from their integer count, which is much faster than float
/// formatting and gives the same text; anything else falls back to the shortest round trip.
#[inline]
fn csv_f64(buf: &mut impl BufMut, v: Option<f64>, decimals: usize) {
    buf.put_u8(b',');
    let Some(v) = v else { return };
    const POW: [f64; 4] = [1.0, 10.0, 100.0, 1000.0];
    const IPOW: [u64; 4] = [1, 10, 100, 1000];
    let d = decimals.min(3);
    let k = (v * POW[d]).round();
    if v >= 0.0 && k < 1e15 && k / POW[d] == v {
        let k = k as u64;
        let (int, mut frac) = (k / IPOW[d], k % IPOW[d]);
        let mut t = [0u8; 24];
        let mut n = t.len();
        let mut i = int;
        loop {
            n -= 1;
            t[n] = b'0' + (i % 10) as u8;
            i /= 10;
            if i == 0 {
                break;
            }
        }
        buf.put_slice(&t[n..]);
        if frac != 0 {
            let mut width = d;
            while frac % 10 == 0 {
                frac /= 10;
                width -= 1;
            }
            let mut f = [b'.', b'0', b'0', b'0'];
            for j in (1..=width).rev() {
                f[j] = b'0' + (frac % 10) as u8;
                frac /= 10;
            }
            buf.put_slice(&f[..=width]);
        }
        return;
    }
    // Shortest representation that reads back to the same double (can be 300+ digits).
    buf.put_slice(v.to_string().as_bytes());
}

/// Append a CSV text field, quoted when it holds a delimiter, quote, line break, or is empty
/// (an empty unquoted field would read as NULL).
fn csv_text(buf: &mut impl BufMut, s: &str) {
    let needs = s.is_empty() || s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'));
    if !needs {
        buf.put_slice(s.as_bytes());
        return;
    }
    buf.put_u8(b'"');
    for part in s.split_inclusive('"') {
        buf.put_slice(part.as_bytes());
        if part.ends_with('"') {
            buf.put_u8(b'"');
        }
    }
    buf.put_u8(b'"');
}

/// One telemetry row as a CSV line (no header), columns in `TELEMETRY_COLUMNS` order.
pub fn telemetry_csv(row: &TelemetryRow, buf: &mut impl BufMut) {
    timestamp_text(row.ts_us, buf);
    buf.put_u8(b',');
    buf.put_slice(row.well_id.as_str().as_bytes());
    for (v, d) in row.values().into_iter().zip(CSV_DECIMALS) {
        csv_f64(buf, v, d);
    }
    buf.put_u8(b'\n');
}

/// One diagnostic row as a CSV line (no header), columns in `DIAGNOSTIC_COLUMNS` order.
pub fn diagnostic_csv(row: &DiagnosticRow, buf: &mut impl BufMut) {
    timestamp_text(row.ts_us, buf);
    buf.put_u8(b',');
    buf.put_slice(row.well_id.as_str().as_bytes());
    buf.put_u8(b',');
    buf.put_slice(row.condition.as_str().as_bytes());
    buf.put_u8(b',');
    buf.put_slice(row.severity.as_str().as_bytes());
    csv_f64(buf, Some(row.confidence), 2);
    buf.put_u8(b',');
    csv_text(buf, &row.message);
    buf.put_u8(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datagen::{Condition, Severity, WellId};

    fn row() -> TelemetryRow {
        TelemetryRow {
            ts_us: PG_EPOCH_OFFSET_US + 1_500_000,
            well: 0,
            well_id: WellId::new(0),
            frequency_hz: Some(55.25),
            motor_current_a: None,
            motor_voltage_v: Some(2300.0),
            intake_pressure_psi: Some(812.4),
            discharge_pressure_psi: Some(2710.1),
            motor_temp_f: Some(231.7),
            intake_temp_f: Some(171.2),
            vibration_g: Some(0.0),
            flow_rate: Some(1520.3),
        }
    }

    #[test]
    fn binary_layout() {
        let mut b = Vec::new();
        binary_header(&mut b);
        assert_eq!(b.len(), 19);
        assert_eq!(&b[..11], SIGNATURE);
        let start = b.len();
        telemetry_binary(&row(), &mut b);
        let r = &b[start..];
        assert_eq!(&r[..2], &11i16.to_be_bytes());
        assert_eq!(&r[2..6], &8i32.to_be_bytes());
        assert_eq!(&r[6..14], &1_500_000i64.to_be_bytes());
        assert_eq!(&r[14..18], &8i32.to_be_bytes());
        assert_eq!(&r[18..26], b"WELL-001");
        assert_eq!(&r[26..30], &8i32.to_be_bytes());
        assert_eq!(&r[30..38], &55.25f64.to_be_bytes());
        assert_eq!(&r[38..42], &(-1i32).to_be_bytes());
        // 2 + (4+8) + (4+8) + 8 present doubles * 12 + 1 NULL * 4
        assert_eq!(r.len(), 2 + 12 + 12 + 8 * 12 + 4);
        binary_trailer(&mut b);
        assert_eq!(&b[b.len() - 2..], &(-1i16).to_be_bytes());
    }

    #[test]
    fn csv_layout() {
        let mut b = Vec::new();
        telemetry_csv(&row(), &mut b);
        assert_eq!(
            String::from_utf8(b).unwrap(),
            "2000-01-01 00:00:01.500000+00,WELL-001,55.25,,2300,812.4,2710.1,231.7,171.2,0,1520.3\n"
        );
        let d = DiagnosticRow {
            ts_us: 1_700_000_000_000_000,
            well: 11,
            well_id: WellId::new(11),
            condition: Condition::GasLock,
            severity: Severity::Warning,
            confidence: 0.72,
            message: "current down, \"oscillating\"".into(),
        };
        let mut b = Vec::new();
        diagnostic_csv(&d, &mut b);
        assert_eq!(
            String::from_utf8(b).unwrap(),
            "2023-11-14 22:13:20+00,WELL-012,gas_lock,warning,0.72,\"current down, \"\"oscillating\"\"\"\n"
        );
    }

    #[test]
    fn csv_numbers_match_shortest_formatting() {
        let cases: [(f64, usize); 12] = [
            (0.0, 1),
            (2300.0, 0),
            (812.4, 1),
            (0.19, 3),
            (0.007, 3),
            (55.25, 2),
            (55.2, 2),
            (1e-9, 1),
            (-3.5, 1),
            (123456.7, 1),
            (0.1 + 0.2, 1),
            (f64::MAX, 1),
        ];
        for (v, d) in cases {
            let mut b = Vec::new();
            csv_f64(&mut b, Some(v), d);
            assert_eq!(
                String::from_utf8(b).unwrap(),
                format!(",{v}"),
                "{v} with {d} decimals"
            );
        }
        let mut b = Vec::new();
        timestamp_text(-1, &mut b);
        assert_eq!(
            String::from_utf8(b).unwrap(),
            "1969-12-31 23:59:59.999999+00"
        );
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(10_957), (2000, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
