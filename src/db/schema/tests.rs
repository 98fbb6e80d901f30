use super::*;

#[test]
fn schema_sql_parses_into_tagged_statements() {
    let st = statements();
    let community: Vec<String> = st
        .iter()
        .filter(|s| s.community_only)
        .map(|s| s.summary())
        .collect();
    assert_eq!(
        community,
        vec![
            "compression settings on esp_telemetry",
            "compression settings on diagnostic_results",
            "compression policy on esp_telemetry (after 7 days)",
            "compression policy on diagnostic_results (after 14 days)",
            "retention policy on esp_telemetry (after 30 days)",
            "retention policy on diagnostic_results (after 90 days)",
        ]
    );
    let general: Vec<String> = st
        .iter()
        .filter(|s| !s.community_only)
        .map(|s| s.summary())
        .collect();
    assert_eq!(
        general,
        vec![
            "table esp_telemetry",
            "table diagnostic_results",
            "hypertable esp_telemetry (1 day chunks)",
            "hypertable diagnostic_results (7 days chunks)",
            "index idx_telemetry_well_time on esp_telemetry",
            "index idx_esp_telemetry_time on esp_telemetry",
            "index idx_diagnostic_well_time on diagnostic_results",
            "index idx_diagnostic_severity on diagnostic_results",
        ]
    );
    assert!(st.iter().all(|s| !s.sql.ends_with(';')));
}

#[test]
fn parse_handles_tags_and_multiline() {
    let st = parse("-- c\n-- requires: community\nSELECT 1,\n 2;\n\nSELECT 3;\n");
    assert_eq!(st.len(), 2);
    assert!(st[0].community_only);
    assert_eq!(st[0].line, 3);
    assert!(!st[1].community_only);
    assert_eq!(st[1].sql, "SELECT 3");
}

#[test]
fn ownership_classification() {
    assert_eq!(
        classify(Some(SCHEMA_CREATED.into()), SCHEMA_MARKER),
        Ownership::Owned
    );
    assert_eq!(
        classify(None, SCHEMA_MARKER),
        Ownership::Foreign { comment: None }
    );
    assert!(matches!(
        classify(Some("standard public schema".into()), SCHEMA_MARKER),
        Ownership::Foreign { .. }
    ));
}
