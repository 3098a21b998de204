//! The documentation's TOML examples are real profiles: each page's ```toml
//! blocks, read in order as one profile, pass `rampdeck check`.
//!
//! A page's blocks build on each other (the profile, then its sources, then
//! thresholds on them). A page whose blocks name no target (the route
//! actions page) is checked on a minimal target and load.

use std::path::Path;
use std::process::Command;

const BASE: &str =
    "[target]\nurl = \"http://127.0.0.1:8080\"\n[load]\nrate = 10\nduration = \"10m\"\n";

fn toml_blocks(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```toml") => current = Some(String::new()),
            (Some(_), l) if l.starts_with("```") => out.extend(current.take()),
            (Some(b), _) => {
                b.push_str(line);
                b.push('\n');
            }
            (None, _) => {}
        }
    }
    out
}

#[test]
fn every_pages_toml_examples_pass_check() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages = vec![root.join("README.md")];
    let mut docs: Vec<_> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for page in &pages {
        let blocks = toml_blocks(&std::fs::read_to_string(page).unwrap());
        if blocks.is_empty() {
            continue;
        }
        let mut text = blocks.join("\n");
        if !text.contains("[target]") && !text.contains("[demo]") {
            text = format!("{BASE}{text}");
        }
        let name = page.file_stem().unwrap().to_string_lossy().into_owned();
        let file = dir.path().join(format!("{name}.toml"));
        std::fs::write(&file, &text).unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_rampdeck"))
            .arg("check")
            .arg(&file)
            .current_dir(root)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{}: its TOML examples fail check:\n{}\n---\n{text}",
            page.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        checked += 1;
    }
    // The profile and route action pages at least.
    assert!(checked >= 2, "{checked} pages with TOML examples");
}
