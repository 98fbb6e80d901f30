//! Regression comparison of two summary.json reports (the CI gate).
