//! `backlog bench --json` with tiny sizes on both backends: one JSON document on stdout with
//! every scenario's measurements, their fields filled and their figures positive.

use std::process::Command;

use serde_json::Value;

/// Every scenario outside the `server` feature except the dashboard (slow to fill, and its
/// figures are read times, not rates), at two concurrencies.
const SCENARIOS: &[&str] = &[
    "bulk", "single", "drain", "steady", "latency", "fair", "workflow", "ceiling", "history",
];

fn bench_json(target: &[String]) -> Value {
    let mut args: Vec<String> = vec!["bench".into(), "--json".into()];
    for s in SCENARIOS {
        args.extend(["--scenario".into(), (*s).into()]);
    }
    for a in [
        "--jobs",
        "300",
        "--single-jobs",
        "50",
        "--single-call-jobs",
        "200",
        "--steady-secs",
        "1",
        "--latency-secs",
        "1",
        "--rates",
        "20",
        "--workflow-jobs",
        "20",
        "--history-jobs",
        "3000",
        "--concurrency",
        "4,16",
    ] {
        args.push(a.into());
    }
    args.extend(target.iter().cloned());
    let out = Command::new(env!("CARGO_BIN_EXE_backlog"))
        .args(&args)
        .env_remove("BACKLOG_BENCH_DATABASE_URL")
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn positive(m: &Value, field: &str) -> f64 {
    let n = m[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field} missing: {m}"));
    assert!(n.is_finite() && n > 0.0, "{field} not positive: {m}");
    n
}

fn check(report: &Value, backend: &str) {
    assert_eq!(report["backend"], backend);
    assert!(!report["database_version"].as_str().unwrap().is_empty());
    assert!(report["cores"].as_u64().unwrap() >= 1);
    assert_eq!(
        report["settings"]["concurrency"],
        serde_json::json!([4, 16])
    );
    let measurements = report["measurements"].as_array().unwrap();
    for scenario in SCENARIOS {
        assert!(
            measurements.iter().any(|m| m["scenario"] == *scenario),
            "no measurement of {scenario}"
        );
    }
    for m in measurements {
        for field in ["scenario", "name", "value", "unit", "settings", "detail"] {
            assert!(m.get(field).is_some(), "{field} missing: {m}");
        }
        positive(m, "value");
        if m["unit"] == "jobs/s" {
            positive(m, "jobs");
            positive(m, "duration_s");
            positive(m, "jobs_per_s");
        }
        if let Some(baseline) = m["baseline"].as_object() {
            assert!(baseline["ratio"].as_f64().unwrap() > 0.0, "{m}");
            assert!(baseline["value"].as_f64().unwrap() > 0.0, "{m}");
        }
    }
    let of = |scenario: &str, name: &str| -> Vec<&Value> {
        measurements
            .iter()
            .filter(|m| m["scenario"] == scenario && m["name"].as_str().unwrap().contains(name))
            .collect()
    };
    // Every worker scenario ran at each concurrency, with its queue settings.
    for (scenario, name) in [
        ("drain", "drain"),
        ("steady", "steady"),
        ("latency", "jobs/s"),
        ("latency", "jobs/s, another process"),
        ("fair", "fair drain"),
        ("workflow", "workflow run"),
        ("ceiling", "end-to-end drain"),
        ("history", "drain, 3000 finished"),
    ] {
        let at: Vec<u64> = of(scenario, name)
            .iter()
            // The two latency figures: "… jobs/s" and "… jobs/s, another process".
            .filter(|m| scenario != "latency" || m["name"].as_str().unwrap().ends_with(name))
            .map(|m| m["concurrency"].as_u64().unwrap())
            .collect();
        assert_eq!(at, [4, 16], "{scenario}: {name}");
        for m in of(scenario, name) {
            assert!(m["settings"]["fetch_batch"].as_u64().is_some(), "{m}");
            assert_eq!(m["settings"]["prefetch"], "auto", "{m}");
        }
    }
    for m in of("latency", "enqueue→start") {
        positive(m, "p50_ms");
        positive(m, "p99_ms");
    }
    for name in [
        "ceiling: insert ×1000",
        "ceiling: claim + delete ×100",
        "ceiling: claim + delete ×1000",
        "ceiling: claim + complete ×100",
        "ceiling: claim + complete ×1000",
        "ceiling: enqueue + claim + complete ×100",
        "ceiling: enqueue + claim + complete ×1000",
    ] {
        let exact = measurements.iter().filter(|m| m["name"] == name).count();
        assert_eq!(exact, 1, "{name}");
    }
    // Backlog's own figures are read against the ceiling, and the history's against the empty
    // table.
    for (scenario, name) in [
        ("ceiling", "bulk enqueue"),
        ("ceiling", "end-to-end drain"),
        ("history", "drain, 3000 finished"),
    ] {
        for m in of(scenario, name) {
            assert!(m["baseline"].is_object(), "{m}");
        }
    }
    assert_eq!(of("history", "history fill").len(), 1);
    // The bulk scenario's one-call figure, beside the batches.
    let one_call = of("bulk", "bulk enqueue, one call");
    assert_eq!(one_call.len(), 1);
    assert_eq!(one_call[0]["jobs"], 200, "{}", one_call[0]);
    assert_eq!(one_call[0]["settings"]["single_call_jobs"], 200);
}

#[test]
fn json_report_on_sqlite() {
    let dir = std::env::temp_dir().join(format!("backlog-bench-json-{}", fastrand::u64(..)));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("bench.sqlite3").display());
    check(&bench_json(&["--database".into(), url]), "sqlite");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn json_report_on_postgres() {
    let url = std::env::var("BACKLOG_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/backlog_test".to_owned());
    let schema = format!("bt_cli_{:016x}", fastrand::u64(..));
    let report = bench_json(&["--database".into(), url, "--schema".into(), schema]);
    check(&report, "postgres");
}
