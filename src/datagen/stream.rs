//! A whole table as one COPY stream, encoded by worker threads and written in the fixed unit
//! order (telemetry: blocks, diagnostics: wells), so the bytes never depend on the number of
//! workers or the job size. Memory is bounded: at most `4 x workers` jobs are in flight.
//! This is the only part of `datagen` that touches a writer; it never opens files itself.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::{mpsc, Condvar, Mutex};

use super::{encode, Fleet, TelemetryRow};

/// Which table to stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Telemetry,
    Diagnostics,
}

/// COPY data format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// PostgreSQL binary COPY (`with (format binary)`).
    Binary,
    /// CSV without a header (`with (format csv)`).
    Csv,
}

/// How to split the work; never changes the bytes.
#[derive(Debug, Clone, Copy)]
pub struct StreamOptions {
    /// Encoding threads (at least 1).
    pub workers: usize,
    /// Units (telemetry blocks or diagnostic wells) per job handed to a worker.
    pub units_per_job: u64,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            workers: 1,
            units_per_job: 1,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    pub rows: u64,
    pub bytes: u64,
    /// The reader went away (EPIPE): the stream stopped early, which is not an error.
    pub broken_pipe: bool,
}

/// Encode units `[from, to)` of a table into `buf`; returns the row count.
pub fn encode_units(
    fleet: &Fleet,
    table: Table,
    format: Format,
    from: u64,
    to: u64,
    rows: &mut Vec<TelemetryRow>,
    buf: &mut Vec<u8>,
) -> u64 {
    let mut n = 0u64;
    match table {
        Table::Telemetry => {
            for i in from..to {
                let Some(block) = fleet.block(i) else { break };
                rows.clear();
                fleet.telemetry_block(&block, rows);
                n += rows.len() as u64;
                match format {
                    Format::Binary => rows.iter().for_each(|r| encode::telemetry_binary(r, buf)),
                    Format::Csv => rows.iter().for_each(|r| encode::telemetry_csv(r, buf)),
                }
            }
        }
        Table::Diagnostics => {
            for well in from..to.min(fleet.wells() as u64) {
                let diags = fleet.diagnostics(well as u32);
                n += diags.len() as u64;
                match format {
                    Format::Binary => diags.iter().for_each(|r| encode::diagnostic_binary(r, buf)),
                    Format::Csv => diags.iter().for_each(|r| encode::diagnostic_csv(r, buf)),
                }
            }
        }
    }
    n
}

struct Progress {
    next_claim: u64,
    next_write: u64,
    abort: bool,
}

/// Stream a whole table (with binary header and trailer) to `out`.
pub fn write_table(
    fleet: &Fleet,
    table: Table,
    format: Format,
    opts: StreamOptions,
    out: &mut dyn Write,
) -> io::Result<StreamStats> {
    write_table_until(fleet, table, format, opts, out, &|| false)
}

/// `write_table` that checks `stop` before writing each job and, once it returns true, stops
/// with an `io::ErrorKind::Interrupted` error (used for SIGINT).
pub fn write_table_until(
    fleet: &Fleet,
    table: Table,
    format: Format,
    opts: StreamOptions,
    out: &mut dyn Write,
    stop_requested: &dyn Fn() -> bool,
) -> io::Result<StreamStats> {
    let units = match table {
        Table::Telemetry => fleet.block_count(),
        Table::Diagnostics => fleet.wells() as u64,
    };
    let per_job = opts.units_per_job.max(1);
    let jobs = units.div_ceil(per_job);
    let workers = opts.workers.max(1);
    let window = 4 * workers as u64;
    let mut stats = StreamStats::default();

    let mut put = |bytes: &[u8], stats: &mut StreamStats| -> io::Result<bool> {
        match out.write_all(bytes) {
            Ok(()) => {
                stats.bytes += bytes.len() as u64;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                stats.broken_pipe = true;
                Ok(false)
            }
            Err(e) => Err(e),
        }
    };

    if format == Format::Binary {
        let mut h = Vec::new();
        encode::binary_header(&mut h);
        if !put(&h, &mut stats)? {
            return Ok(stats);
        }
    }

    let progress = Mutex::new(Progress {
        next_claim: 0,
        next_write: 0,
        abort: false,
    });
    let wake = Condvar::new();
    let (tx, rx) = mpsc::channel::<(u64, Vec<u8>, u64)>();

    let result = std::thread::scope(|scope| -> io::Result<()> {
        for _ in 0..workers {
            let tx = tx.clone();
            let (progress, wake) = (&progress, &wake);
            scope.spawn(move || {
                let mut rows = Vec::new();
                loop {
                    let job = {
                        let Ok(mut p) = progress.lock() else { return };
                        loop {
                            if p.abort || p.next_claim >= jobs {
                                return;
                            }
                            if p.next_claim < p.next_write + window {
                                break;
                            }
                            p = match wake.wait(p) {
                                Ok(p) => p,
                                Err(_) => return,
                            };
                        }
                        p.next_claim += 1;
                        p.next_claim - 1
                    };
                    let from = job * per_job;
                    let to = (from + per_job).min(units);
                    let mut buf = Vec::new();
                    let n = encode_units(fleet, table, format, from, to, &mut rows, &mut buf);
                    if tx.send((job, buf, n)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);

        let stop = |progress: &Mutex<Progress>| {
            if let Ok(mut p) = progress.lock() {
                p.abort = true;
            }
            wake.notify_all();
        };
        let mut ready: BTreeMap<u64, (Vec<u8>, u64)> = BTreeMap::new();
        let mut next = 0u64;
        while next < jobs {
            let Ok((job, buf, n)) = rx.recv() else { break };
            ready.insert(job, (buf, n));
            if stop_requested() {
                stop(&progress);
                return Err(io::Error::new(
                    io::ErrorKind::Interrupted,
                    "generation interrupted",
                ));
            }
            while let Some((buf, n)) = ready.remove(&next) {
                match put(&buf, &mut stats) {
                    Ok(true) => stats.rows += n,
                    Ok(false) => {
                        stop(&progress);
                        return Ok(());
                    }
                    Err(e) => {
                        stop(&progress);
                        return Err(e);
                    }
                }
                next += 1;
                if let Ok(mut p) = progress.lock() {
                    p.next_write = next;
                }
                wake.notify_all();
            }
        }
        if next < jobs {
            return Err(io::Error::other("a generator worker stopped early"));
        }
        Ok(())
    });
    result?;
    if stats.broken_pipe {
        return Ok(stats);
    }
    if format == Format::Binary {
        let mut t = Vec::new();
        encode::binary_trailer(&mut t);
        put(&t, &mut stats)?;
    }
    if let Err(e) = out.flush() {
        if e.kind() == io::ErrorKind::BrokenPipe {
            stats.broken_pipe = true;
        } else {
            return Err(e);
        }
    }
    Ok(stats)
}
