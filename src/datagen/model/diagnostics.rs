//! The diagnostics of a well: derived from the same episodes as its telemetry (a warning when
//! detected, a critical if it escalates, an info when it clears).

use super::*;

impl Fleet {
    /// Diagnostics of one well inside the span `[start, end)`, sorted by time. Derived from the
    /// same episodes as the telemetry: a warning when detected, a critical if it escalates, an
    /// info when it clears (trips: critical at once, info at restart).
    pub fn diagnostics(&self, well: u32) -> Vec<DiagnosticRow> {
        self.diagnostics_between(well, self.start_us, self.end_us)
    }

    /// Diagnostics of one well with timestamps in `[from_us, to_us)` (live ingest uses this
    /// beyond the span end).
    pub fn diagnostics_between(&self, well: u32, from_us: i64, to_us: i64) -> Vec<DiagnosticRow> {
        let mut out = Vec::new();
        let Some(w) = self.well(well) else {
            return out;
        };
        let w = &w;
        let mut eps = Vec::new();
        self.episodes_into(w, well, from_us, to_us, &mut eps);
        for e in &eps {
            episode_diagnostics(w, well, e, &mut out);
        }
        out.retain(|d| d.ts_us >= from_us && d.ts_us < to_us);
        out.sort_by(|a, b| {
            (a.ts_us, a.condition, a.severity).cmp(&(b.ts_us, b.condition, b.severity))
        });
        out
    }
}

fn episode_diagnostics(w: &Well, well: u32, e: &Episode, out: &mut Vec<DiagnosticRow>) {
    let len = e.restart_us - e.start_us;
    let pct = |x: f64| (x * e.magnitude * 100.0).round();
    let mut push = |ts_us: i64, severity: Severity, confidence: f64, message: String| {
        out.push(DiagnosticRow {
            ts_us,
            well,
            well_id: w.id,
            condition: e.kind,
            severity,
            confidence: (confidence.clamp(0.0, 1.0) * 100.0).round() / 100.0,
            message,
        })
    };
    let minutes = (len as f64 / 60e6).round();
    match e.kind {
        Condition::Trip => {
            push(
                e.start_us + e.detect_delay_us,
                Severity::Critical,
                e.confidence.max(0.9),
                "motor tripped: drive frequency, current and flow at zero".to_owned(),
            );
            push(
                e.restart_us,
                Severity::Info,
                0.95,
                format!("restarted after {minutes} min shutdown"),
            );
        }
        kind => {
            let detect = e.detect_delay_us.min(len / 2);
            let (warn, crit) = match kind {
                Condition::GasLock => (
                    format!(
                        "gas lock suspected: motor current down {}% and oscillating, flow down {}%",
                        pct(0.35),
                        pct(0.85)
                    ),
                    "gas lock persists: pump not producing, risk of motor overheating".to_owned(),
                ),
                Condition::PumpOff => (
                    format!(
                        "pump-off: intake pressure down {}%, flow down {}%, motor temperature rising",
                        pct(0.7),
                        pct(0.65)
                    ),
                    "pump-off persists: reduce drive frequency".to_owned(),
                ),
                _ => (
                    format!(
                        "sand/scale: vibration up {}%, motor current up {}%",
                        pct(2.5),
                        pct(0.15)
                    ),
                    "sand/scale: vibration critical, inspect pump".to_owned(),
                ),
            };
            push(e.start_us + detect, Severity::Warning, e.confidence, warn);
            if e.escalates {
                push(
                    e.start_us + detect.max(len * 2 / 5),
                    Severity::Critical,
                    e.confidence + 0.1,
                    crit,
                );
            }
            push(
                e.end_us,
                Severity::Info,
                0.9,
                format!("{} cleared after {minutes} min", kind.as_str()),
            );
        }
    }
}
