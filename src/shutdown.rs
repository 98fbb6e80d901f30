//! Process-wide cancellation on SIGINT/SIGTERM.
