//! route-scale through the binary against the demo in its own process (so the memory the
//! scenario fits is the demo's, not the test's): a clean churn holds its memory and passes; the
//! `leak_per_route` fault is caught, with a slope that matches the bytes it leaks.

use std::process::Command;

fn scenario(dir: &std::path::Path, extra: &[&str]) -> (i32, serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rampdeck"))
        .args([
            "scenario",
            "route-scale",
            "--demo",
            "--headless",
            "--routes",
            "200",
        ])
        .args(["--churn-rate", "20", "--out"])
        .arg(dir)
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let text = std::fs::read_to_string(dir.join("scenario.json"))
        .unwrap_or_else(|e| panic!("{e}\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_str(&text).unwrap(),
        stdout,
    )
}

#[test]
fn a_clean_churn_holds_its_memory_and_passes() {
    let dir = tempfile::tempdir().unwrap();
    // 60 s: the first half fills the demo's bounded watch history, the second is fitted.
    let (code, v, table) = scenario(dir.path(), &["--duration", "60s"]);
    assert_eq!(code, 0, "{table}");
    let s = &v["route_scale"];
    assert_eq!(s["applied"], 200);
    // 20 patches a second for 60 s.
    let patches = s["patches"].as_u64().unwrap();
    assert!((1150..=1210).contains(&patches), "{patches} patches");
    assert_eq!(s["patch_errors"], 0);
    assert_eq!(s["unpropagated"], 0);
    // The demo's propagation is 50 ms.
    let p50 = s["propagation_ms"]["p50"].as_f64().unwrap();
    assert!((50.0..120.0).contains(&p50), "propagation p50 {p50}");
    assert_eq!(s["failed"], 0);
    assert!(s["requests"].as_u64().unwrap() >= 5900, "{}", s["requests"]);
    assert_ne!(s["leak"], "leak", "{table}");
    let cp = &s["components"][0];
    assert_eq!(cp["role"], "control plane");
    assert!(
        cp["memory_slope_mib_per_hour"].as_f64().unwrap() < 200.0,
        "{table}"
    );
    assert!(s["score"]["weighted"].as_f64().unwrap() > 90.0, "{table}");
    assert!(table.contains("score "), "{table}");
    // The run log replays into a report, and compare reads the result.
    let report = Command::new(env!("CARGO_BIN_EXE_rampdeck"))
        .args(["report", "--format", "md"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(md.contains("route-scale: memory over the run"), "{md}");
    let cmp = Command::new(env!("CARGO_BIN_EXE_rampdeck"))
        .arg("compare")
        .arg(dir.path())
        .arg(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&cmp.stdout);
    assert!(cmp.status.success(), "{text}");
    assert!(text.contains("scale.score"), "{text}");
}

#[test]
fn a_control_plane_that_leaks_per_route_write_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let leak = 256 * 1024;
    let (code, v, table) = scenario(
        dir.path(),
        &[
            "--duration",
            "20s",
            "--demo-leak-per-route",
            &leak.to_string(),
        ],
    );
    assert_eq!(code, 99, "{table}");
    let s = &v["route_scale"];
    assert_eq!(s["leak"], "leak", "{table}");
    // 20 writes a second x 256 KiB = 18,000 MiB/h.
    let slope = s["components"][0]["memory_slope_mib_per_hour"]
        .as_f64()
        .unwrap();
    assert!(
        (12_000.0..24_000.0).contains(&slope),
        "slope {slope} MiB/h\n{table}"
    );
    assert_eq!(s["score"]["control_plane"], 0.0);
    let failed = v["failed_criteria"].to_string();
    assert!(failed.contains("control-plane memory leak"), "{failed}");
}
