//! `[checks]` and `[gate]`: which production-state checks run, and the regression gate's
//! settings.

use super::*;

pub(super) fn checks(raw: &RawScenario, ctx: &Ctx) -> R<ChecksPlan> {
    let c = raw.checks.as_ref();
    let unsupported = match c.and_then(|c| c.unsupported.as_ref()) {
        None => UnsupportedEffect::Skip,
        Some(u) => match u.get_ref().as_str() {
            "skip" => UnsupportedEffect::Skip,
            "fail" => UnsupportedEffect::Fail,
            other => {
                return Err(ctx.err(
                    &u.span(),
                    "checks.unsupported",
                    format!("unknown value `{other}`, expected `skip` or `fail`"),
                ))
            }
        },
    };
    let pct = |v: Option<&S<toml::Value>>, field: &str| -> R<Option<f64>> {
        v.map(|v| ctx.percent(v, field, 0.0, 100.0, true))
            .transpose()
    };
    Ok(ChecksPlan {
        unsupported,
        chunk_counts: c.and_then(|c| c.chunk_counts).unwrap_or(true),
        telemetry_min_reduction_pct: pct(
            c.and_then(|c| c.telemetry_min_reduction_pct.as_ref()),
            "checks.telemetry_min_reduction_pct",
        )?,
        diagnostics_min_reduction_pct: pct(
            c.and_then(|c| c.diagnostics_min_reduction_pct.as_ref()),
            "checks.diagnostics_min_reduction_pct",
        )?,
        policies: c.and_then(|c| c.policies).unwrap_or(true),
        retention: c.and_then(|c| c.retention).unwrap_or(true),
    })
}

pub(super) fn gate(raw: &RawScenario, ctx: &Ctx) -> R<GatePlan> {
    let g = raw.gate.as_ref();
    let max_regression_pct = match g.and_then(|g| g.max_regression.as_ref()) {
        None => defaults::MAX_REGRESSION_PCT,
        Some(v) => ctx.percent(v, "gate.max_regression", 0.0, 1000.0, false)?,
    };
    let metrics = match g.and_then(|g| g.metrics.as_ref()) {
        None => defaults::GATE_METRICS.to_vec(),
        Some(list) => {
            if list.is_empty() {
                return Err(ctx.err(
                    &ctx.locate("gate.metrics"),
                    "gate.metrics",
                    "the gate needs at least one metric (a gate that compares nothing passes everything)",
                ));
            }
            let mut out = Vec::new();
            let mut seen = BTreeSet::new();
            for (i, m) in list.iter().enumerate() {
                let field = format!("gate.metrics[{i}]");
                let Some(metric) = Metric::from_name(m.get_ref()) else {
                    return Err(ctx.err(&m.span(), &field, unknown_metric_msg(m.get_ref())));
                };
                if !seen.insert(metric) {
                    return Err(ctx.err(
                        &m.span(),
                        &field,
                        format!("metric `{}` is listed twice", metric.name()),
                    ));
                }
                out.push(metric);
            }
            out
        }
    };
    let alpha = match g.and_then(|g| g.alpha.as_ref()) {
        None => defaults::ALPHA,
        Some(v) => ctx.float(v, "gate.alpha", 0.0, defaults::ALPHA_MAX, true)?,
    };
    Ok(GatePlan {
        max_regression_pct,
        metrics,
        alpha,
    })
}
