//! The crate's floors: no import circle between rooms (top-level modules), and the domain rooms never reach up into views, reports or the demo.
//!
//! Read from the source as a maintainer reads it: every `crate::ROOM` a
//! file names outside its tests is an arrow from its room to ROOM.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Files of the binary, where `crate::` is the binary, not the library.
const BINARY: [&str; 6] = [
    "main.rs",
    "cli.rs",
    "find_cmd.rs",
    "scenario_cmd.rs",
    "setup_cmd.rs",
    "lib.rs",
];

/// Rooms that must never import the rooms beside them.
const NEVER: [(&str, &[&str]); 4] = [
    ("engine", &["report", "run", "ui", "session", "profile"]),
    ("stats", &["report", "run", "ui", "engine", "profile"]),
    ("probes", &["report", "run", "ui", "engine", "profile"]),
    (
        "spec",
        &[
            "engine", "report", "run", "ui", "profile", "session", "probes", "routes", "find",
            "export", "setup", "delivery", "agents", "kube",
        ],
    ),
];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The rooms `text` names: `crate::room` paths and `use crate::{a, b::c}` groups.
fn named(text: &str, extern_crates: &[&str]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        let before = rest[..i].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            rest = after;
            continue;
        }
        if let Some(group) = after.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let name = ident(part.trim());
                if !name.is_empty() {
                    out.insert(name.to_owned());
                }
            }
        } else {
            let name = ident(after);
            if !name.is_empty() {
                out.insert(name.to_owned());
            }
        }
        rest = after;
    }
    for c in extern_crates {
        if text.contains(&format!("{c}::")) {
            out.insert((*c).to_owned());
        }
    }
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&src).expect("under src");
        let first = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .expect("a name");
        if rel.components().count() == 1 && BINARY.contains(&first) {
            continue;
        }
        let room = first.trim_end_matches(".rs").to_owned();
        let text = std::fs::read_to_string(&f).expect("read");
        // Tests may reach anywhere; the layout is about the code.
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for to in named(code, &["rampdeck_demo"]) {
            if to != room {
                edges.entry(room.clone()).or_default().insert(to);
            }
        }
        edges.entry(room).or_default();
    }
    edges
}

/// A circle through `from`, if the graph has one.
fn circle(
    edges: &BTreeMap<String, BTreeSet<String>>,
    at: &str,
    path: &mut Vec<String>,
    done: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    if let Some(i) = path.iter().position(|p| p == at) {
        let mut c = path[i..].to_vec();
        c.push(at.to_owned());
        return Some(c);
    }
    if done.contains(at) {
        return None;
    }
    path.push(at.to_owned());
    for to in edges.get(at).into_iter().flatten() {
        if let Some(c) = circle(edges, to, path, done) {
            return Some(c);
        }
    }
    path.pop();
    done.insert(at.to_owned());
    None
}

#[test]
fn no_room_imports_a_room_that_imports_it_back() {
    let edges = graph();
    assert!(edges.contains_key("engine") && edges.contains_key("spec"));
    let mut done = BTreeSet::new();
    for room in edges.keys() {
        if let Some(c) = circle(&edges, room, &mut Vec::new(), &mut done) {
            panic!("an import circle between rooms: {}", c.join(" -> "));
        }
    }
}

#[test]
fn domain_rooms_never_reach_up() {
    let edges = graph();
    for (room, never) in NEVER {
        let imports = edges.get(room).cloned().unwrap_or_default();
        for n in never {
            assert!(
                !imports.contains(*n),
                "{room} imports {n} (it imports {imports:?})"
            );
        }
        if room != "spec" {
            assert!(
                !imports.contains("rampdeck_demo"),
                "{room} imports the demo crate"
            );
        }
    }
}

#[test]
fn the_reader_sees_what_a_file_names() {
    let n = named(
        "use crate::{engine::x, stats};\nfn f() { crate::util::fmt(); subcrate::no(); }",
        &["rampdeck_demo"],
    );
    assert_eq!(
        n.into_iter().collect::<Vec<_>>(),
        ["engine", "stats", "util"]
    );
}

/// The keys of summary.json and of run.jsonl's fixed-shape lines, as the
/// build before the rooms moved wrote them for the demo run (so moving code
/// between rooms changed no output).
#[test]
fn a_demo_runs_outputs_keep_their_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("o");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_rampdeck"))
        .args(["demo", "--headless", "--duration", "6s", "--out"])
        .arg(&out)
        .output()
        .expect("run the demo");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<&str> = v
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        k.sort_unstable();
        k.join(" ")
    };
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).expect("summary"))
            .expect("json");
    let mut got = vec![format!("summary.json: {}", keys(&summary))];
    let log = std::fs::read_to_string(out.join("run.jsonl")).expect("log");
    let mut by_type: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut plan = BTreeSet::new();
    for line in log.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let t = v["type"].as_str().unwrap_or("").to_owned();
        if t == "header" {
            plan.extend(keys(&v["plan"]).split(' ').map(str::to_owned));
        }
        by_type
            .entry(t)
            .or_default()
            .extend(keys(&v).split(' ').map(str::to_owned));
    }
    for t in ["header", "interval", "summary"] {
        let k: Vec<String> = by_type.remove(t).unwrap_or_default().into_iter().collect();
        got.push(format!("run.jsonl {t}: {}", k.join(" ")));
    }
    got.push(format!(
        "run.jsonl header.plan: {}",
        plan.into_iter().collect::<Vec<_>>().join(" ")
    ));
    let want = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/demo_run_keys.txt"),
    )
    .expect("snapshot");
    assert_eq!(got.join("\n") + "\n", want);
}
