//! Regression tests for the second hardening sweep: endless inputs, bad numbers, signals and
//! the limits each surface now has; each case one that once failed.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const EXE: &str = env!("CARGO_BIN_EXE_rampdeck");

fn rampdeck(args: &[&str]) -> Output {
    Command::new(EXE)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RAMPDECK_AGENT_TOKEN")
        .output()
        .expect("run rampdeck")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn endless_inputs_are_refused_at_once_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let data = write(
        dir.path(),
        "data.toml",
        "[target]\nurl = \"http://127.0.0.1:9\"\n[[data]]\nname = \"users\"\nfile = \"/dev/zero\"\n[[request]]\npath = \"/{{users.id}}\"\n[load]\nrate = 1\nduration = \"1s\"\n",
    );
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "run",
                "grpc://127.0.0.1:9/a.B/C",
                "--descriptor-set",
                "/dev/zero",
                "--data",
                "{}",
                "--duration",
                "1s",
            ],
            "a descriptor set",
        ),
        (vec!["check", &data], "a [[data]] file"),
        (vec!["compare", "/dev/zero", "/dev/zero"], "character device"),
        (vec!["report", "/dev/zero"], "character device"),
        (
            vec![
                "run",
                "http://127.0.0.1:9/",
                "--agents",
                "static:127.0.0.1:9",
                "--agent-token-file",
                "/dev/zero",
                "--duration",
                "1s",
            ],
            "a token file",
        ),
        (
            vec![
                "agent",
                "--listen",
                "127.0.0.1:0",
                "--allow",
                "127.0.0.1:9",
                "--token-file",
                "/dev/zero",
            ],
            "a token file",
        ),
    ];
    for (args, needle) in cases {
        let t0 = Instant::now();
        let o = rampdeck(&args);
        let t = text(&o);
        assert!(t0.elapsed() < Duration::from_secs(10), "{args:?}: {:?}", t0.elapsed());
        assert!(t.contains(needle), "{args:?}: wanted '{needle}' in: {t}");
        assert_ne!(o.status.code(), Some(0), "{args:?}: {t}");
        assert!(o.status.code().is_some(), "{args:?} was killed: {t}");
    }
}

#[test]
fn a_hang_up_stops_a_headless_run_like_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let child = Command::new(EXE)
        .args(["demo", "--headless", "--rate", "50", "--duration", "30s", "--out"])
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Past the demo profile's 5 s warmup, so something is measured.
    std::thread::sleep(Duration::from_secs(7));
    let pid = rustix::process::Pid::from_child(&child);
    rustix::process::kill_process(pid, rustix::process::Signal::HUP).unwrap();
    let t0 = Instant::now();
    let o = child.wait_with_output().unwrap();
    assert!(t0.elapsed() < Duration::from_secs(15), "{:?}", t0.elapsed());
    // Not killed (129): ended as a stopped run, its thresholds judged.
    assert!(matches!(o.status.code(), Some(0 | 99)), "{:?} {}", o.status, text(&o));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["stopped_early"], true, "{s}");
    assert!(s["requests"].as_u64().unwrap_or(0) > 50, "{s}");
}
