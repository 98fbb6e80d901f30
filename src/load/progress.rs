//! Load progress on stderr: an indicatif bar (rows, rows/s, ETA) on a terminal, a plain line
//! every few seconds otherwise (CI logs), nothing when quiet. Workers only bump atomic
//! counters; one ticker task draws.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio_util::sync::CancellationToken;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressMode {
    /// Bars when stderr is a terminal, plain lines otherwise.
    #[default]
    Auto,
    Bars,
    /// A line every `PLAIN_EVERY`.
    Plain,
    Quiet,
}

/// Interval of plain progress lines.
pub const PLAIN_EVERY: Duration = Duration::from_secs(5);

impl ProgressMode {
    fn resolve(self) -> ProgressMode {
        match self {
            ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Bars,
            ProgressMode::Auto => ProgressMode::Plain,
            m => m,
        }
    }
}

/// Counters shared by the workers of one table.
#[derive(Debug, Default)]
pub struct Counters {
    /// Rows committed in this run.
    pub rows: AtomicU64,
    /// Batches committed in this run.
    pub batches: AtomicU64,
    /// Work units those batches covered.
    pub units: AtomicU64,
}

/// A running progress display for one table; [`Progress::finish`] stops it.
pub struct Progress {
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    /// Start showing progress of `table` towards `total` estimated rows.
    pub fn start(mode: ProgressMode, table: &str, total: u64, counters: Arc<Counters>) -> Progress {
        let stop = CancellationToken::new();
        let task = match mode.resolve() {
            ProgressMode::Quiet | ProgressMode::Auto => None,
            ProgressMode::Bars => Some(tokio::spawn(bars(
                table.to_string(),
                total,
                counters,
                stop.clone(),
            ))),
            ProgressMode::Plain => Some(tokio::spawn(plain(
                table.to_string(),
                total,
                counters,
                stop.clone(),
            ))),
        };
        Progress { stop, task }
    }

    /// Stop the display (the bar is cleared; the caller prints the summary).
    pub async fn finish(mut self) {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn bars(table: String, total: u64, counters: Arc<Counters>, stop: CancellationToken) {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{prefix:>20} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} rows {per_sec} ETA {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_prefix(table);
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => bar.set_position(counters.rows.load(Ordering::Relaxed)),
        }
    }
    bar.set_position(counters.rows.load(Ordering::Relaxed));
    bar.finish_and_clear();
}

async fn plain(table: String, total: u64, counters: Arc<Counters>, stop: CancellationToken) {
    let start = Instant::now();
    let mut tick = tokio::time::interval(PLAIN_EVERY);
    tick.tick().await; // the first tick is immediate
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {
                let rows = counters.rows.load(Ordering::Relaxed);
                eprintln!("{}", plain_line(&table, rows, total, start.elapsed()));
            }
        }
    }
}

/// `load esp_telemetry: 1200000/5000000 rows (24.0%), 240000 rows/s, ETA 16s`.
pub fn plain_line(table: &str, rows: u64, total: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let rate = rows as f64 / secs;
    let pct = if total > 0 {
        100.0 * rows as f64 / total as f64
    } else {
        100.0
    };
    let eta = if rate > 0.0 && total > rows {
        format!("{:.0}s", (total - rows) as f64 / rate)
    } else {
        "-".to_string()
    };
    format!("load {table}: {rows}/{total} rows ({pct:.1}%), {rate:.0} rows/s, ETA {eta}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_line_reads_well() {
        let l = plain_line("esp_telemetry", 1_000, 4_000, Duration::from_secs(2));
        assert_eq!(
            l,
            "load esp_telemetry: 1000/4000 rows (25.0%), 500 rows/s, ETA 6s"
        );
        let l = plain_line("t", 0, 0, Duration::from_secs(1));
        assert!(l.contains("ETA -"), "{l}");
    }
}
