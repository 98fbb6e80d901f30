use super::*;

fn measured() -> Measured {
    Measured {
        rows: 1_000_000,
        bytes_per_row: 100.0,
        compression_ratio: Some(5.0),
        compression_note: "measured on 3 compressed chunks".into(),
        ingest_rows_per_sec: Some(50_000.0),
        chunk_interval_s: 86_400,
        host_memory_bytes: 8 << 30,
        queries: vec![("latest_24h".into(), 4.0), ("agg_7d_fleet".into(), 20.0)],
        // 100 B/row = 55 heap + 45 index; compressed 5x = 20 B/row (18 data + 2 index).
        split: RowSplit {
            heap_bytes_per_row: 55.0,
            index_bytes_per_row: 45.0,
            compressed_data_bytes_per_row: Some(18.0),
            compressed_index_bytes_per_row: Some(2.0),
            channel_bytes_per_row: Some(72.0),
            channel_bytes_per_row_compressed: Some(16.0),
            source: "test".into(),
        },
    }
}

fn assumptions() -> Assumptions {
    Assumptions {
        interval: Duration::from_secs(10),
        retention: Duration::from_secs(30 * 86_400),
        compress_after: Duration::from_secs(7 * 86_400),
        memory_bytes: 1 << 30,
        memory_source: "--memory".into(),
        chunk_interval_s: 86_400,
        chunk_interval_source: "--chunk-interval".into(),
        chunk_memory_fraction: CHUNK_MEMORY_FRACTION,
        indexes: IndexModel::Measured,
    }
}

#[test]
fn other_index_sets_are_projected_from_the_split() {
    // Measured: as before, and the split is reported.
    let p = project_fleet(&measured(), &assumptions(), 200, None);
    assert_eq!(p.row.bytes_per_row_projected, 100.0);
    assert_eq!(p.row.compression_ratio_projected, Some(5.0));
    assert_eq!(p.row.index_bytes_per_row, 45.0);
    assert_eq!(p.row.channel_compression_ratio, Some(4.5));

    // No indexes: 55 B/row uncompressed, 20 B/row compressed: 2.75x, not 5x.
    let mut a = assumptions();
    a.indexes = IndexModel::None;
    let p = project_fleet(&measured(), &a, 200, None);
    let r = &p.row;
    assert_eq!(r.index_model, "none (--indexes none)");
    assert_eq!(
        (r.index_bytes_per_row, r.bytes_per_row_projected),
        (0.0, 55.0)
    );
    assert_eq!(r.compression_ratio_projected, Some(2.75));
    assert_eq!(r.bytes_per_row_compressed, Some(20.0));
    // 51,840,000 rows x 55 B.
    assert_eq!(r.raw_storage_bytes, 2_851_200_000);
    // 7 hot days x 55 B (665,280,000) + 23 days x 20 B (794,880,000).
    assert_eq!(r.compressed_storage_bytes, Some(1_460_160_000));
    // One 1-day chunk: 1,728,000 rows x 55 B.
    assert_eq!(r.chunk_bytes, 95_040_000);
    // The measured ratio is still reported as measured.
    assert_eq!(r.compression_ratio_measured, Some(5.0));

    // Another index set: 25 B/row of indexes -> 80 B/row, 4x.
    a.indexes = IndexModel::BytesPerRow(25.0);
    let p = project_fleet(&measured(), &a, 200, None);
    assert_eq!(p.row.bytes_per_row_projected, 80.0);
    assert_eq!(p.row.compression_ratio_projected, Some(4.0));
    assert_eq!(p.row.index_model, "--index-bytes-per-row 25");

    // Without a compressed split (Apache edition) only the uncompressed side projects.
    let mut m = measured();
    m.split.compressed_data_bytes_per_row = None;
    m.compression_ratio = None;
    a.indexes = IndexModel::None;
    let p = project_fleet(&m, &a, 200, None);
    assert_eq!(p.row.bytes_per_row_projected, 55.0);
    assert_eq!(p.row.compressed_storage_bytes, None);
}

#[test]
fn rows_per_day_is_wells_times_86400_over_interval() {
    assert_eq!(rows_per_day(200, Duration::from_secs(10)), 1_728_000.0);
    assert_eq!(rows_per_day(1, Duration::from_secs(1)), 86_400.0);
    assert_eq!(rows_per_day(5000, Duration::from_secs(60)), 7_200_000.0);
    // Not a divisor of a day: the exact quotient as a float.
    assert_eq!(rows_per_day(7, Duration::from_secs(7)), 86_400.0);
    assert_eq!(rows_per_day(1, Duration::from_secs(7)), 86_400.0 / 7.0);
}

#[test]
fn projection_matches_hand_computed_values() {
    let p = project_fleet(&measured(), &assumptions(), 200, None);
    let r = &p.row;
    // 200 wells every 10 s: 20 rows/s, 1,728,000 rows/day, 51,840,000 rows in 30 days.
    assert_eq!(r.rows_per_day, 1_728_000.0);
    assert_eq!(r.rows_retained, 51_840_000.0);
    assert_eq!(r.retention_days, 30.0);
    // 100 bytes/row: 5,184,000,000 bytes raw.
    assert_eq!(r.raw_storage_bytes, 5_184_000_000);
    // 7 hot days at 100 B (1,209,600,000) + 23 days at 20 B (794,880,000).
    assert_eq!(r.compressed_storage_bytes, Some(2_004_480_000));
    assert_eq!(r.bytes_per_row_compressed, Some(20.0));
    // One 1-day chunk: 172,800,000 bytes; budget 25% of 1 GiB = 268,435,456 bytes.
    assert_eq!(r.chunk_bytes, 172_800_000);
    assert!(r.chunk_fits_memory);
    // 2 days would be 345,600,000 > budget: 1d is the largest that fits.
    assert_eq!(r.recommended_chunk_interval, "1d");
    assert_eq!(r.recommended_chunk_interval_s, Some(86_400));
    assert_eq!(r.recommended_chunk_bytes, Some(172_800_000));
    assert_eq!(r.ingest_rows_per_sec_required, 20.0);
    assert_eq!(r.ingest_headroom, Some(2_500.0));
    assert_eq!(p.queries[0].p95_ms_projected, None);
    assert_eq!(r.extrapolation_factor, None);
}

#[test]
fn chunk_recommendation_walks_the_ladder() {
    // 5000 wells at 10 s = 500 rows/s = 180,000,000 B/h at 100 B/row. Budget 268 MB:
    // 1h fits (180 MB), 2h (360 MB) does not.
    let p = project_fleet(&measured(), &assumptions(), 5000, None);
    assert_eq!(p.row.recommended_chunk_interval, "1h");
    assert!(!p.row.chunk_fits_memory);
    // 20,000 wells: 720 MB per hour, nothing fits.
    let p = project_fleet(&measured(), &assumptions(), 20_000, None);
    assert_eq!(p.row.recommended_chunk_interval_s, None);
    assert!(p.row.recommended_chunk_interval.starts_with("none"));
    // 10 wells: 1 row/s, a 7-day chunk is 604,800 rows = 60,480,000 B: the top of the
    // ladder fits.
    let p = project_fleet(&measured(), &assumptions(), 10, None);
    assert_eq!(p.row.recommended_chunk_interval, "7d");
}

#[test]
fn latency_projection_uses_the_fitted_exponent() {
    let mut k = LatencyModel {
        rows_max: 5_184_000,
        ..Default::default()
    };
    k.exponents.insert("latest_24h".to_string(), 0.0);
    k.exponents.insert("agg_7d_fleet".to_string(), 0.5);
    let p = project_fleet(&measured(), &assumptions(), 200, Some(&k));
    // 51,840,000 rows retained, 10x the largest size measured.
    assert_eq!(p.row.sweep_rows_max, Some(5_184_000));
    assert_eq!(p.row.extrapolation_factor, Some(10.0));
    // rows ratio 51,840,000 / 1,000,000 = 51.84; sqrt = 7.2; 20 ms x 7.2 = 144 ms.
    assert_eq!(p.queries[0].p95_ms_projected, Some(4.0));
    let agg = p.queries[1].p95_ms_projected.unwrap();
    assert!((agg - 144.0).abs() < 1e-9, "{agg}");
    assert!(p.row.latency_model.contains("bench sweep"));
}

#[test]
fn compression_window_longer_than_retention_compresses_nothing() {
    let b = compressed_storage_bytes(
        10,
        Duration::from_secs(10),
        Duration::from_secs(86_400),
        Duration::from_secs(7 * 86_400),
        100.0,
        10.0,
    );
    assert_eq!(b, 86_400.0 * 100.0);
}

#[test]
fn no_ratio_means_no_compressed_projection() {
    let mut m = measured();
    m.compression_ratio = None;
    m.ingest_rows_per_sec = None;
    let p = project_fleet(&m, &assumptions(), 200, None);
    assert_eq!(p.row.compressed_storage_bytes, None);
    assert_eq!(p.row.ingest_headroom, None);
}
