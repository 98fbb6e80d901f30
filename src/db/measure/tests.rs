use super::*;

#[test]
fn quoting() {
    assert_eq!(
        qualified("bench", "esp_telemetry"),
        "\"bench\".\"esp_telemetry\""
    );
    assert_eq!(one_line("SELECT  1\n  FROM x"), "SELECT 1 FROM x");
}
