//! The verdict of a run: one policy, used by the leader, the followers and the tests.

use crate::model::report::{CheckResult, CheckStatus, Verdict};
use crate::scenario::plan::UnsupportedEffect;

/// Interrupted beats everything; then any failing check (see [`counts_as_failure`]) or a
/// degraded run (query or ingest errors) fails; Pass otherwise (Skipped never fails).
pub fn verdict(
    interrupted: bool,
    degraded: bool,
    checks: &[CheckResult],
    unsupported: UnsupportedEffect,
) -> Verdict {
    if interrupted {
        return Verdict::Interrupted;
    }
    let failed = checks.iter().any(|c| counts_as_failure(c, unsupported));
    if failed || degraded {
        Verdict::Fail
    } else {
        Verdict::Pass
    }
}

/// Whether one check makes the verdict fail: Fail always, Unsupported when the scenario says
/// `unsupported = "fail"`.
pub fn counts_as_failure(check: &CheckResult, unsupported: UnsupportedEffect) -> bool {
    match check.status {
        CheckStatus::Fail => true,
        CheckStatus::Unsupported => unsupported == UnsupportedEffect::Fail,
        CheckStatus::Pass | CheckStatus::Skipped => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(status: CheckStatus) -> CheckResult {
        CheckResult {
            name: "x".into(),
            kind: "latency".into(),
            target: "<= 1".into(),
            measured: Some(1.0),
            measured_text: None,
            status,
            note: None,
        }
    }

    #[test]
    fn verdict_rules() {
        let skip = UnsupportedEffect::Skip;
        let fail = UnsupportedEffect::Fail;
        assert_eq!(
            verdict(false, false, &[check(CheckStatus::Pass)], skip),
            Verdict::Pass
        );
        assert_eq!(
            verdict(false, false, &[check(CheckStatus::Fail)], skip),
            Verdict::Fail
        );
        assert_eq!(
            verdict(false, true, &[check(CheckStatus::Pass)], skip),
            Verdict::Fail
        );
        assert_eq!(
            verdict(true, true, &[check(CheckStatus::Fail)], skip),
            Verdict::Interrupted
        );
        assert_eq!(
            verdict(false, false, &[check(CheckStatus::Unsupported)], skip),
            Verdict::Pass
        );
        assert_eq!(
            verdict(false, false, &[check(CheckStatus::Unsupported)], fail),
            Verdict::Fail
        );
    }
}
