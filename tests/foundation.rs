//! Foundation integration tests against the embedded server: schema, detection, namespace
//! safety, cleanup of the embedded server, and the `bench` binary's environment errors.

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::Leftovers;
use esp_bench::db::{catalog, detect, schema, Target};

const BENCH: &str = env!("CARGO_BIN_EXE_bench");

fn bench() -> Command {
    let mut c = Command::new(BENCH);
    c.env_remove("DATABASE_URL")
        .env_remove("PGPASSWORD")
        .stdin(Stdio::null());
    c
}

/// What the schema and detection tests start from: a target on a fresh embedded server, the
/// record that proves it leaves nothing behind, a connection, and the detected server.
struct Setup {
    target: Target,
    left: Leftovers,
    client: tokio_postgres::Client,
    info: detect::ServerInfo,
}

async fn setup(target: Target) -> Setup {
    let left = Leftovers::of(target.server.as_ref().unwrap());
    let client = target.connect().await.unwrap();
    let info = detect::detect(&client).await.unwrap();
    Setup {
        target,
        left,
        client,
        info,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_applies_twice_and_matches_production() {
    let Setup {
        target,
        left,
        client,
        info,
    } = setup(common::target().await).await;

    let first = schema::apply(&client, &target.schema, &info).await.unwrap();
    assert!(first.created_schema);
    let second = schema::apply(&client, &target.schema, &info).await.unwrap();
    assert!(!second.created_schema);
    assert_eq!(first.skipped.len(), second.skipped.len());

    // Hypertables with the production chunk intervals.
    let hts = catalog::hypertables(&client, &target.schema).await.unwrap();
    let intervals: BTreeMap<String, u64> = hts
        .iter()
        .map(|h| (h.name.clone(), h.chunk_interval_s))
        .collect();
    assert_eq!(intervals.get("esp_telemetry"), Some(&86_400));
    assert_eq!(intervals.get("diagnostic_results"), Some(&(7 * 86_400)));

    // The four named indexes, with their production column lists.
    let idx = catalog::indexes(&client, &target.schema).await.unwrap();
    let def = |name: &str| {
        idx.iter()
            .find(|i| i.name == name)
            .map(|i| (i.table.clone(), i.definition.clone()))
            .unwrap_or_else(|| panic!("index {name} missing: {idx:?}"))
    };
    let (t, d) = def("idx_telemetry_well_time");
    assert_eq!(t, "esp_telemetry");
    assert!(d.contains("(well_id, \"timestamp\" DESC)"), "{d}");
    let (t, d) = def("idx_esp_telemetry_time");
    assert_eq!(t, "esp_telemetry");
    assert!(d.contains("(\"timestamp\" DESC)"), "{d}");
    let (t, d) = def("idx_diagnostic_well_time");
    assert_eq!(t, "diagnostic_results");
    assert!(d.contains("(well_id, \"timestamp\" DESC)"), "{d}");
    let (t, d) = def("idx_diagnostic_severity");
    assert_eq!(t, "diagnostic_results");
    assert!(d.contains("(severity, \"timestamp\" DESC)"), "{d}");

    // Columns exactly as the generator and queries use them.
    let cols = client
        .query(
            "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text \
             FROM information_schema.columns WHERE table_schema = $1 \
             ORDER BY table_name, ordinal_position",
            &[&target.schema],
        )
        .await
        .unwrap();
    let cols: Vec<String> = cols
        .iter()
        .map(|r| {
            format!(
                "{}.{} {} {}",
                r.get::<_, String>(0),
                r.get::<_, String>(1),
                r.get::<_, String>(2),
                r.get::<_, String>(3)
            )
        })
        .collect();
    let dp = "double precision YES";
    let expected: Vec<String> = [
        "diagnostic_results.id bigint NO".to_string(),
        "diagnostic_results.timestamp timestamp with time zone NO".into(),
        "diagnostic_results.well_id text NO".into(),
        "diagnostic_results.condition text NO".into(),
        "diagnostic_results.severity text NO".into(),
        "diagnostic_results.confidence double precision NO".into(),
        "diagnostic_results.message text YES".into(),
        // bench's record of the policy jobs it paused (src/db/guard.rs).
        "esp_bench_paused_jobs.job_id integer NO".into(),
        "esp_bench_paused_jobs.hypertable text NO".into(),
        "esp_bench_paused_jobs.proc_name text NO".into(),
        "esp_bench_paused_jobs.bench_pid bigint NO".into(),
        "esp_bench_paused_jobs.command text NO".into(),
        "esp_bench_paused_jobs.paused_at timestamp with time zone NO".into(),
        "esp_telemetry.id bigint NO".into(),
        "esp_telemetry.timestamp timestamp with time zone NO".into(),
        "esp_telemetry.well_id text NO".into(),
        format!("esp_telemetry.frequency_hz {dp}"),
        format!("esp_telemetry.motor_current_a {dp}"),
        format!("esp_telemetry.motor_voltage_v {dp}"),
        format!("esp_telemetry.intake_pressure_psi {dp}"),
        format!("esp_telemetry.discharge_pressure_psi {dp}"),
        format!("esp_telemetry.motor_temp_f {dp}"),
        format!("esp_telemetry.intake_temp_f {dp}"),
        format!("esp_telemetry.vibration_g {dp}"),
        format!("esp_telemetry.flow_rate {dp}"),
    ]
    .to_vec();
    assert_eq!(cols, expected);

    // id auto-increments and the primary key is (id, timestamp); severity is checked.
    client
        .batch_execute(
            "INSERT INTO esp_telemetry (timestamp, well_id, flow_rate) \
             VALUES (now(), 'WELL-001', 1200), (now(), 'WELL-001', 1201)",
        )
        .await
        .unwrap();
    let ids: i64 = client
        .query_one("SELECT count(DISTINCT id) FROM esp_telemetry", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(ids, 2);
    let pk: String = client
        .query_one(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint \
             WHERE conrelid = 'esp_telemetry'::regclass AND contype = 'p'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(pk, "PRIMARY KEY (id, \"timestamp\")");
    let bad = client
        .batch_execute(
            "INSERT INTO diagnostic_results (timestamp, well_id, condition, severity, confidence) \
             VALUES (now(), 'WELL-001', 'gas_lock', 'fatal', 0.9)",
        )
        .await;
    assert!(
        bad.is_err(),
        "severity outside info/warning/critical was accepted"
    );

    // Policies on the community edition; reported as skipped on Apache.
    let jobs = catalog::jobs(&client, &target.schema).await.unwrap();
    if info.edition.is_community() {
        assert!(second.skipped.is_empty());
        let mut got: Vec<(String, String)> = jobs
            .iter()
            .map(|j| (j.hypertable.clone(), j.proc_name.clone()))
            .collect();
        got.sort();
        assert_eq!(
            got,
            vec![
                ("diagnostic_results".into(), "policy_compression".into()),
                ("diagnostic_results".into(), "policy_retention".into()),
                ("esp_telemetry".into(), "policy_compression".into()),
                ("esp_telemetry".into(), "policy_retention".into()),
            ]
        );
        assert!(hts.iter().all(|h| h.compression_enabled));
        let seg = catalog::compression_settings(&client, &target.schema, "diagnostic_results")
            .await
            .unwrap()
            .expect("compression configured on diagnostic_results");
        assert_eq!(
            seg.segmentby
                .as_ref()
                .map(|s| s.replace([' ', '"'], ""))
                .as_deref(),
            Some("well_id,severity")
        );
        assert!(
            seg.orderby.as_deref().unwrap_or("").contains("DESC"),
            "{seg:?}"
        );
        let seg = catalog::compression_settings(&client, &target.schema, "esp_telemetry")
            .await
            .unwrap()
            .expect("compression configured on esp_telemetry");
        assert_eq!(seg.segmentby.as_deref(), Some("well_id"));
    } else {
        assert!(jobs.is_empty());
        assert!(
            catalog::compression_settings(&client, &target.schema, "esp_telemetry")
                .await
                .unwrap()
                .is_none()
        );
        let lines = second.skipped_lines();
        assert_eq!(lines.len(), 6, "{lines:?}");
        for l in &lines {
            assert!(
                l.starts_with("skipped: ") && l.ends_with("(needs TimescaleDB community edition)"),
                "{l}"
            );
        }
        assert!(lines
            .iter()
            .any(|l| l.contains("retention policy on esp_telemetry (after 30 days)")));
        assert!(lines
            .iter()
            .any(|l| l.contains("compression policy on diagnostic_results (after 14 days)")));
    }

    drop(client);
    target.close().await.unwrap();
    left.assert_gone();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detects_versions_edition_and_api() {
    let Setup {
        target,
        left,
        client,
        info,
    } = setup(common::target().await).await;
    let license: String = client
        .query_one("SHOW timescaledb.license", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(info.edition.license(), license);
    assert!(
        info.postgres_version_num >= 130_000,
        "{}",
        info.postgres_version_num
    );
    assert!(info
        .postgres_version
        .starts_with(&(info.postgres_version_num / 10_000).to_string()));
    let (major, minor, _) = info.timescaledb_semver();
    assert_eq!(major, 2);
    assert!(minor >= 13);
    let extversion: String = client
        .query_one(
            "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(info.timescaledb_version, extversion);
    // Every name the API hands out exists on this server and is callable as told.
    let stats = info
        .api
        .hypertable_compression_stats()
        .expect("stats function");
    if minor >= 18 {
        assert!(stats.ends_with("hypertable_columnstore_stats"), "{stats}");
    }
    assert!(info.api.compress_chunk_sql("$1::regclass").is_some());
    assert_eq!(info.database, "esp_bench");
    drop(client);
    target.close().await.unwrap();
    left.assert_gone();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_foreign_schemas_and_tables() {
    let Setup {
        target,
        left,
        client,
        info,
    } = setup(common::target_in("userdata").await).await;

    // A schema the user made: bench refuses to create into it or reset it.
    client
        .batch_execute("CREATE SCHEMA userdata; CREATE TABLE userdata.keep (x int); INSERT INTO userdata.keep VALUES (1)")
        .await
        .unwrap();
    let err = format!(
        "{:#}",
        schema::apply(&client, "userdata", &info).await.unwrap_err()
    );
    assert!(err.contains("not created by esp-bench"), "{err}");
    assert!(
        err.contains("--adopt-schema") && err.contains("--schema"),
        "{err}"
    );
    assert!(err.contains("keep"), "message names what it found: {err}");
    let err = format!(
        "{:#}",
        schema::reset(&client, "userdata").await.unwrap_err()
    );
    assert!(err.contains("refusing to reset"), "{err}");
    assert!(schema::ensure_owned(&client, "userdata").await.is_err());

    // Adopted schema holding a user's table named like bench's: still refused, untouched.
    client
        .batch_execute(
            "CREATE TABLE userdata.esp_telemetry (id int); INSERT INTO userdata.esp_telemetry VALUES (7)",
        )
        .await
        .unwrap();
    schema::adopt(&client, "userdata").await.unwrap();
    let err = format!(
        "{:#}",
        schema::apply(&client, "userdata", &info).await.unwrap_err()
    );
    assert!(
        err.contains("table \"userdata\".\"esp_telemetry\""),
        "{err}"
    );
    let reset = schema::reset(&client, "userdata").await.unwrap();
    assert!(reset.dropped_tables.is_empty());
    assert!(!reset.dropped_schema);
    assert_eq!(
        reset.kept_foreign,
        vec!["esp_telemetry".to_string(), "keep".to_string()]
    );
    let n: i64 = client
        .query_one(
            "SELECT count(*) FROM userdata.esp_telemetry WHERE id = 7",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    let n: i64 = client
        .query_one("SELECT count(*) FROM userdata.keep", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);

    // public is refused unless explicitly allowed; bad identifiers are refused.
    let mut args = esp_bench::db::TargetSpec {
        database_url: Some(target.url.clone()),
        schema: "public".into(),
        ..Default::default()
    };
    let err = format!(
        "{:#}",
        Target::open(&args, &BTreeMap::new()).await.unwrap_err()
    );
    assert!(err.contains("--allow-public-schema"), "{err}");
    args.schema = "x; DROP TABLE y".into();
    assert!(Target::open(&args, &BTreeMap::new()).await.is_err());
    for bad in [
        "",
        "Esp",
        "pg_catalog",
        "information_schema",
        "a-b",
        "1abc",
        "\"q\"",
    ] {
        assert!(
            esp_bench::db::validate_schema_name(bad).is_err(),
            "{bad:?} accepted"
        );
    }

    drop(client);
    target.close().await.unwrap();
    left.assert_gone();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_drops_only_bench_tables() {
    let Setup {
        target,
        left,
        client,
        info,
    } = setup(common::target().await).await;
    schema::apply(&client, "esp_bench", &info).await.unwrap();
    client
        .batch_execute("CREATE TABLE esp_bench.users_notes (x int)")
        .await
        .unwrap();
    let r = schema::reset(&client, "esp_bench").await.unwrap();
    assert_eq!(
        r.dropped_tables,
        vec![
            "diagnostic_results".to_string(),
            "esp_bench_paused_jobs".to_string(),
            "esp_telemetry".to_string()
        ]
    );
    assert_eq!(r.kept_foreign, vec!["users_notes".to_string()]);
    assert!(!r.dropped_schema);
    client
        .batch_execute("DROP TABLE esp_bench.users_notes")
        .await
        .unwrap();
    let r = schema::reset(&client, "esp_bench").await.unwrap();
    assert!(r.dropped_schema);
    assert_eq!(
        schema::schema_ownership(&client, "esp_bench")
            .await
            .unwrap(),
        schema::Ownership::Absent
    );
    // Applying again after a reset works.
    schema::apply(&client, "esp_bench", &info).await.unwrap();
    drop(client);
    target.close().await.unwrap();
    left.assert_gone();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_stops_server_and_restart_keeps_port_and_data() {
    let mut server = common::server().await;
    let port = server.port();
    let old_pid = server.postmaster_pid();
    let t = Target::for_url(&server.url(), "esp_bench").unwrap();
    let c = t.connect().await.unwrap();
    c.batch_execute("CREATE TABLE public.k (x int); INSERT INTO public.k VALUES (42)")
        .await
        .unwrap();
    drop(c);
    server.restart().await.unwrap();
    assert_eq!(server.port(), port);
    assert_ne!(server.postmaster_pid(), old_pid);
    assert!(!common::pid_running(old_pid));
    let c = t.connect().await.unwrap();
    let x: i32 = c
        .query_one("SELECT x FROM public.k", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(x, 42);
    drop(c);
    let left = Leftovers::of(&server);
    assert!(common::pid_running(left.pid));
    assert!(left.run_dir.exists());
    drop(server); // no stop(): Drop must clean up
    left.assert_gone();
}

#[test]
fn info_json_without_url_reports_versions_and_leaves_nothing() {
    let mut child = bench()
        .args(["info", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let bench_pid = child.id();
    let out = {
        let mut stdout = String::new();
        let mut stderr = String::new();
        use std::io::Read;
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = child.wait().unwrap();
        (status, stdout, stderr)
    };
    let (status, stdout, stderr) = out;
    assert!(status.success(), "bench info failed: {stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("stdout is JSON");
    assert_eq!(v["embedded"], true);
    assert!(v["postgres_version"]
        .as_str()
        .unwrap()
        .chars()
        .next()
        .unwrap()
        .is_ascii_digit());
    assert!(v["timescaledb_version"].as_str().unwrap().starts_with("2."));
    let edition = v["edition"].as_str().unwrap();
    assert!(edition == "apache" || edition == "community", "{edition}");
    let server = v["server"].as_str().unwrap();
    assert!(
        server.contains(":***@127.0.0.1:"),
        "password not redacted: {server}"
    );
    let port = server
        .rsplit(':')
        .next()
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    assert!(common::postgres_pids_mentioning(&format!("port={port}")).is_empty());
    assert!(
        common::run_dirs_of(bench_pid).is_empty(),
        "temp dir left behind"
    );
    let settings = v["settings"].as_array().unwrap();
    assert!(settings
        .iter()
        .any(|s| s["name"] == "jit" && s["value"] == "off"));
}

#[test]
fn unreachable_server_exits_2_without_leaking_the_password() {
    let port = common::closed_port();
    let secret = "PlantedSecret-4b1d";
    let url = format!("postgres://bench_user:{secret}@127.0.0.1:{port}/esp_telemetry");
    // As a flag, as DATABASE_URL, and with the password in PGPASSWORD.
    let runs: Vec<Command> = vec![
        {
            let mut c = bench();
            c.args(["info", "--database-url", &url]);
            c
        },
        {
            let mut c = bench();
            c.args(["schema", "apply"]).env("DATABASE_URL", &url);
            c
        },
        {
            let mut c = bench();
            c.args(["info", "--json", "--database-url"])
                .arg(format!("postgres://bench_user@127.0.0.1:{port}/x"))
                .env("PGPASSWORD", secret);
            c
        },
    ];
    for mut c in runs {
        let out = c.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "stdout: {stdout}\nstderr: {stderr}"
        );
        assert!(stderr.contains("cannot connect to"), "{stderr}");
        assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "password leaked: {stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_never_printed_against_a_live_server() {
    let server = common::server().await;
    let left = Leftovers::of(&server);
    let url = server.url();
    let password = url
        .split_once("://postgres:")
        .and_then(|(_, rest)| rest.split('@').next())
        .unwrap()
        .to_string();
    assert!(password.len() >= 16);
    for args in [
        vec!["schema", "apply"],
        vec!["schema", "apply"],
        vec!["info"],
        vec!["info", "--json"],
        vec!["schema", "reset"],
        vec!["schema", "reset", "--yes"],
    ] {
        let out = tokio::task::spawn_blocking({
            let url = url.clone();
            move || {
                bench()
                    .args(&args)
                    .args(["--database-url", &url])
                    .output()
                    .unwrap()
            }
        })
        .await
        .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains(&password), "password printed:\n{all}");
        assert!(all.contains("***") || all.contains("schema"), "{all}");
    }
    // A URL without password: PGPASSWORD, then the password file, supply it; neither leaks.
    let bare = format!("postgres://postgres@127.0.0.1:{}/esp_bench", server.port());
    let pgpass_dir = tempfile::tempdir().unwrap();
    let pgpass = pgpass_dir.path().join("pgpass");
    std::fs::write(
        &pgpass,
        format!("127.0.0.1:{}:*:postgres:{password}\n", server.port()),
    )
    .unwrap();
    for (var, value) in [
        ("PGPASSWORD", password.clone()),
        ("PGPASSFILE", pgpass.display().to_string()),
    ] {
        let out = tokio::task::spawn_blocking({
            let bare = bare.clone();
            move || {
                bench()
                    .args(["info", "--database-url", &bare])
                    .env(var, value)
                    .output()
                    .unwrap()
            }
        })
        .await
        .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{var}: {all}");
        assert!(all.contains("TimescaleDB:"), "{var}: {all}");
        assert!(!all.contains(&password), "{var}: password printed:\n{all}");
    }
    server.stop().await.unwrap();
    left.assert_gone();
}

#[test]
fn sigint_and_sigkill_leave_no_server_behind() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGKILL] {
        // `bench schema apply` with no URL: a whole embedded-server lifecycle.
        let mut child = bench()
            .args(["schema", "apply"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let bench_pid = child.id();
        // Wait until the embedded server is up (its postmaster.pid exists), or bench is done.
        let mut postmaster = None;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while postmaster.is_none() && std::time::Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            postmaster = common::run_dirs_of(bench_pid)
                .iter()
                .find_map(|d| common::postmaster_pid_in(&d.join("data")));
            std::thread::sleep(Duration::from_millis(20));
        }
        let dirs = common::run_dirs_of(bench_pid);
        kill(Pid::from_raw(bench_pid as i32), sig).ok();
        let status = child.wait().unwrap();
        if let Some(pm) = postmaster {
            assert!(
                common::wait_until_gone(pm, Duration::from_secs(30)),
                "postmaster {pm} survived {sig:?} of bench"
            );
        }
        match sig {
            Signal::SIGKILL => {
                // Nobody can clean up after SIGKILL: the next embedded start removes the
                // stale directory (its owner and postmaster are gone). Do the same here.
                for d in dirs {
                    let _ = std::fs::remove_dir_all(d);
                }
            }
            _ => {
                // Interrupted (130) or, if the signal came after the work was done, success.
                let code = status.code();
                assert!(
                    code == Some(130) || code == Some(0),
                    "{sig:?}: exit {code:?}"
                );
                assert!(
                    common::run_dirs_of(bench_pid).is_empty(),
                    "{sig:?}: temp dir left"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_layers_settings_and_reuses_a_data_dir() {
    let keep = tempfile::tempdir().unwrap();
    // When bench runs as root the server runs as `postgres`, which must reach the directory.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(keep.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data_dir = keep.path().join("cluster");
    let args = esp_bench::db::TargetSpec {
        data_dir: Some(data_dir.clone()),
        pg_settings: vec!["work_mem=7MB".into(), "fsync=off".into()],
        schema: "esp_bench".into(),
        ..Default::default()
    };
    let scenario: BTreeMap<String, String> =
        [("work_mem", "5MB"), ("maintenance_work_mem", "77MB")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();

    let target = Target::open(&args, &scenario).await.unwrap();
    assert!(target.is_embedded());
    let left = Leftovers::of(target.server.as_ref().unwrap());
    assert!(!target.display_url().contains(&target.url[20..40]));
    let c = target.connect().await.unwrap();
    let show = |name: &'static str| {
        let c = &c;
        async move {
            c.query_one(&format!("SHOW {name}"), &[])
                .await
                .unwrap()
                .get::<_, String>(0)
        }
    };
    assert_eq!(show("work_mem").await, "7MB"); // CLI beats scenario
    assert_eq!(show("maintenance_work_mem").await, "77MB"); // scenario beats default
    assert_eq!(show("jit").await, "off"); // default
    assert_eq!(show("search_path").await, "esp_bench,public");
    assert_eq!(show("application_name").await, "esp-bench");
    c.batch_execute("CREATE TABLE public.survivor (x int); INSERT INTO public.survivor VALUES (1)")
        .await
        .unwrap();
    drop(c);
    target.close().await.unwrap();
    left.assert_gone();
    assert!(
        data_dir.join("PG_VERSION").exists(),
        "--data-dir must be kept"
    );

    let target = Target::open(&args, &BTreeMap::new()).await.unwrap();
    let left = Leftovers::of(target.server.as_ref().unwrap());
    let c = target.connect().await.unwrap();
    let n: i64 = c
        .query_one("SELECT count(*) FROM public.survivor", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    drop(c);
    target.close().await.unwrap();
    left.assert_gone();
}

#[test]
fn bad_pg_setting_and_url_are_config_errors() {
    // (flags, what stderr says): every case exits 2 and never prints the password.
    let cases: [(&[&str], &str); 4] = [
        (&["--pg-setting", "no_equals_sign"], "expected NAME=VALUE"),
        (
            &["--pg-setting", "bad name=1"],
            "not a valid PostgreSQL setting name",
        ),
        (&["--pg-setting", "config_file=/x"], "managed by bench"),
        (
            &["--database-url", "postgres://u:SeCrEt99@[bad/"],
            "invalid database URL",
        ),
    ];
    for (flags, says) in cases {
        let out = bench().arg("info").args(flags).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {stderr}");
        assert!(stderr.contains(says), "{flags:?}: {stderr}");
        assert!(!stderr.contains("SeCrEt99"), "{stderr}");
    }
    let args = esp_bench::cli::ServerArgs {
        database_url: Some("postgres://u:SeCrEt99@h/db".into()),
        ..Default::default()
    };
    assert!(!format!("{args:?}").contains("SeCrEt99"));
}

#[test]
fn missing_server_binaries_exit_2_naming_the_fix() {
    let empty = tempfile::tempdir().unwrap();
    let out = bench()
        .args(["info", "--pg-bin-dir"])
        .arg(empty.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("make setup"), "{stderr}");
    assert!(stderr.contains("--database-url"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
