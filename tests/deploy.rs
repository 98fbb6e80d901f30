//! deploy/: the Kubernetes manifests and the Dockerfile of sharded runs. No cluster runs here,
//! so the manifests are checked as far as a test can without one:
//!
//! - every manifest parses as YAML and as its Kubernetes API type (k8s-openapi's structs), and
//!   no key is lost on the way through the typed struct (a misspelt field would be);
//! - the Indexed Job: `completionMode: Indexed`, completions = parallelism = N of
//!   `--shard $(JOB_COMPLETION_INDEX)/N`, JOB_COMPLETION_INDEX declared from the completion
//!   index annotation, no retries, the database URL from the Secret, the scenario from the
//!   ConfigMap (whose scenario is valid), the report under the results volume, and the
//!   container's arguments accepted by bench's own command line;
//! - the merge Job merges exactly the N shards' directories the Job writes;
//! - the Dockerfile builds bench with cargo in a build stage and downloads nothing at run time.

use std::path::{Path, PathBuf};

use clap::Parser as _;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Secret};
use serde_json::Value;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

fn yaml(name: &str) -> Value {
    let path = deploy().join("k8s").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every key path of `v` (objects only; array items by position).
fn paths(v: &Value, at: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                let p = format!("{at}.{k}");
                out.push(p.clone());
                paths(c, &p, out);
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                paths(c, &format!("{at}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Parse `name` as `T` and check that every key of the file survives the typed struct (k8s
/// types ignore unknown fields, so a typo would silently vanish).
fn typed<T: serde::de::DeserializeOwned + serde::Serialize>(name: &str) -> (T, Value) {
    let raw = yaml(name);
    let t: T = serde_json::from_value(raw.clone())
        .unwrap_or_else(|e| panic!("{name} is not a valid {}: {e}", std::any::type_name::<T>()));
    let back = serde_json::to_value(&t).unwrap();
    let (mut want, mut got) = (Vec::new(), Vec::new());
    paths(&raw, "", &mut want);
    paths(&back, "", &mut got);
    let lost: Vec<&String> = want.iter().filter(|p| !got.contains(p)).collect();
    assert!(
        lost.is_empty(),
        "{name}: fields unknown to the Kubernetes API: {lost:?}"
    );
    (t, raw)
}

fn env_value<'a>(
    c: &'a k8s_openapi::api::core::v1::Container,
    name: &str,
) -> &'a k8s_openapi::api::core::v1::EnvVar {
    c.env
        .as_ref()
        .and_then(|e| e.iter().find(|v| v.name == name))
        .unwrap_or_else(|| panic!("container {} has no env {name}", c.name))
}

/// The argument after `flag`.
fn arg_after<'a>(args: &'a [String], flag: &str) -> &'a str {
    let i = args
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("no {flag} in {args:?}"));
    &args[i + 1]
}

#[test]
fn the_indexed_job_maps_the_completion_index_to_the_shard() {
    let (job, _) = typed::<Job>("bench-job.yaml");
    let (cm, _) = typed::<ConfigMap>("scenario-configmap.yaml");
    let (secret, _) = typed::<Secret>("database-secret.yaml");
    let (pvc, _) = typed::<PersistentVolumeClaim>("results-pvc.yaml");
    let spec = job.spec.as_ref().unwrap();
    assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"));
    assert_eq!(
        spec.backoff_limit,
        Some(0),
        "a shard cannot rejoin: no retries"
    );
    let n = spec.completions.unwrap();
    assert_eq!(spec.parallelism, Some(n), "every shard runs at once");
    let pod = spec.template.spec.as_ref().unwrap();
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
    let c = &pod.containers[0];
    let args = c.args.clone().unwrap();
    assert_eq!(args[0], "run");
    // --shard K/N with K the completion index and N the completions.
    assert_eq!(
        arg_after(&args, "--shard"),
        format!("$(JOB_COMPLETION_INDEX)/{n}")
    );
    let idx = env_value(c, "JOB_COMPLETION_INDEX");
    let field = idx
        .value_from
        .as_ref()
        .and_then(|v| v.field_ref.as_ref())
        .map(|f| f.field_path.as_str());
    assert_eq!(
        field,
        Some("metadata.annotations['batch.kubernetes.io/job-completion-index']")
    );
    // Every $(VAR) in the arguments is declared in the container's env (else it stays literal).
    for a in &args {
        let mut rest = a.as_str();
        while let Some(i) = rest.find("$(") {
            let end = rest[i..].find(')').unwrap() + i;
            let var = &rest[i + 2..end];
            env_value(c, var);
            rest = &rest[end + 1..];
        }
    }
    // The database URL comes from the Secret, never from the arguments.
    assert!(!args.iter().any(|a| a.contains("postgres://")));
    let url = env_value(c, "DATABASE_URL");
    let key = url
        .value_from
        .as_ref()
        .and_then(|v| v.secret_key_ref.as_ref())
        .unwrap();
    assert_eq!(key.name, secret.metadata.name.clone().unwrap());
    assert!(secret.string_data.as_ref().unwrap().contains_key(&key.key));
    // The scenario is the ConfigMap's, mounted where the arguments read it.
    let volumes = pod.volumes.as_ref().unwrap();
    let mount = |name: &str| {
        c.volume_mounts
            .as_ref()
            .unwrap()
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("no mount {name}"))
    };
    let scenario_vol = volumes
        .iter()
        .find(|v| v.config_map.is_some())
        .expect("a ConfigMap volume");
    assert_eq!(
        scenario_vol.config_map.as_ref().unwrap().name,
        cm.metadata.name.clone().unwrap()
    );
    let scenario_path = Path::new(&args[1]);
    let m = mount(&scenario_vol.name);
    let key = scenario_path
        .strip_prefix(&m.mount_path)
        .unwrap()
        .to_str()
        .unwrap();
    let text = cm
        .data
        .as_ref()
        .unwrap()
        .get(key)
        .expect("scenario key in the ConfigMap");
    let plan = esp_bench::scenario::parse(
        text,
        "deploy/k8s/scenario-configmap.yaml",
        chrono::Utc::now(),
    )
    .unwrap_or_else(|e| panic!("the ConfigMap's scenario is invalid: {e}"));
    assert!(plan.fleet.wells >= n as u32, "at least one well per shard");
    // Reports go to the results volume, one directory per shard.
    let results_vol = volumes
        .iter()
        .find(|v| v.persistent_volume_claim.is_some())
        .expect("a results volume");
    assert_eq!(
        results_vol
            .persistent_volume_claim
            .as_ref()
            .unwrap()
            .claim_name,
        pvc.metadata.name.clone().unwrap()
    );
    let out = arg_after(&args, "--out");
    assert!(
        out.starts_with(&format!("{}/", mount(&results_vol.name).mount_path)),
        "{out}"
    );
    assert!(out.contains("$(JOB_COMPLETION_INDEX)"), "{out}");
    assert!(pvc
        .spec
        .as_ref()
        .unwrap()
        .access_modes
        .as_ref()
        .unwrap()
        .contains(&"ReadWriteMany".to_string()));
    // bench's own command line accepts the arguments (with the variables expanded).
    let expanded: Vec<String> = args
        .iter()
        .map(|a| {
            a.replace("$(JOB_COMPLETION_INDEX)", "2")
                .replace("$(JOB_NAME)", "esp-bench-scaleout")
                .replace("$(JOB_UID)", "0d9c")
        })
        .collect();
    let cli =
        esp_bench::cli::Cli::try_parse_from(std::iter::once("bench".to_string()).chain(expanded))
            .unwrap_or_else(|e| panic!("bench rejects the Job's arguments: {e}"));
    match cli.command {
        esp_bench::cli::Command::Run(r) => {
            let spec = r.sharding.shard.unwrap();
            assert_eq!((spec.index, spec.count), (2, n as u32));
        }
        other => panic!("not bench run: {other:?}"),
    }
}

#[test]
fn the_merge_job_merges_every_shard_the_job_writes() {
    let (job, _) = typed::<Job>("bench-job.yaml");
    let (merge, _) = typed::<Job>("merge-job.yaml");
    let n = job.spec.as_ref().unwrap().completions.unwrap();
    let name = job.metadata.name.clone().unwrap();
    let pod = merge.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    let args = pod.containers[0].args.clone().unwrap();
    assert_eq!(args[0], "merge");
    let dirs: Vec<&String> = args[1..]
        .iter()
        .take_while(|a| !a.starts_with("--"))
        .collect();
    let want: Vec<String> = (0..n)
        .map(|k| format!("/results/{name}/shard-{k}"))
        .collect();
    assert_eq!(dirs, want.iter().collect::<Vec<_>>());
    let cli = esp_bench::cli::Cli::try_parse_from(std::iter::once("bench".to_string()).chain(args))
        .unwrap_or_else(|e| panic!("bench rejects the merge Job's arguments: {e}"));
    assert!(matches!(cli.command, esp_bench::cli::Command::Merge(_)));
}

#[test]
fn the_dockerfile_builds_bench_from_source_and_downloads_nothing_at_run_time() {
    let text = std::fs::read_to_string(deploy().join("Dockerfile")).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    let froms: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("FROM "))
        .map(|(i, _)| i)
        .collect();
    assert!(froms.len() >= 2, "multi-stage: {froms:?}");
    let build = &lines[froms[0]..froms[1]];
    let runtime = &lines[*froms.last().unwrap()..];
    assert!(
        lines[froms[0]].ends_with(" AS build"),
        "{}",
        lines[froms[0]]
    );
    assert!(
        build
            .iter()
            .any(|l| l.contains("cargo build --release --locked")),
        "the build stage compiles bench with cargo: {build:?}"
    );
    assert!(runtime
        .iter()
        .any(|l| l.starts_with("COPY --from=build") && l.contains("target/release/bench")));
    for l in runtime {
        for bad in ["curl", "wget", "ADD http", "cargo install"] {
            assert!(!l.contains(bad), "the runtime stage downloads: {l}");
        }
    }
    assert!(runtime
        .iter()
        .any(|l| l.starts_with("ENTRYPOINT") && l.contains("bench")));
}
