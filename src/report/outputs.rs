//! Before a run starts: the places it will write (`--out`, `--history`) are checked, so a typo does not cost the run.

use std::path::Path;

/// Files that mark a directory as holding a finished or killed run.
const RUN_FILES: [&str; 3] = ["summary.json", "run.jsonl", "scenario.json"];

/// `--out DIR`: creatable, a directory, writable, and not holding another
/// run unless `force` (its files would be replaced).
pub fn check_out_dir(dir: &Path, force: bool) -> Result<(), String> {
    let shown = dir.display();
    if dir.exists() && !dir.is_dir() {
        return Err(format!("--out '{shown}' is a file, not a directory"));
    }
    if !force {
        if let Some(f) = RUN_FILES.iter().find(|f| dir.join(f).exists()) {
            return Err(format!(
                "--out '{shown}' already holds a run ({f}); give a new directory, or add --force to replace it"
            ));
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("--out '{shown}': cannot create it: {e}"))?;
    // Writing is the only honest test of "writable" (permissions, read-only
    // mounts, ACLs all decide).
    let probe = dir.join(format!(".rampdeck-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .map_err(|e| format!("--out '{shown}': cannot write into it: {e}"))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// `--history FILE`: appendable (created if missing), not a directory.
pub fn check_history(path: &Path) -> Result<(), String> {
    let shown = path.display();
    if path.is_dir() {
        return Err(format!(
            "--history '{shown}' is a directory; give a file such as history.jsonl"
        ));
    }
    let existed = path.exists();
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("--history '{shown}': cannot append to it: {e}"))?;
    if !existed {
        // Leave no empty file behind if the run never gets to write a line.
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_output_places_are_found_before_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        assert!(check_out_dir(&file, false)
            .unwrap_err()
            .contains("is a file"));
        assert!(check_out_dir(&file.join("sub"), false).is_err());
        let run = dir.path().join("run");
        check_out_dir(&run, false).unwrap();
        std::fs::write(run.join("summary.json"), "{}").unwrap();
        assert!(check_out_dir(&run, false).unwrap_err().contains("--force"));
        check_out_dir(&run, true).unwrap();
        assert!(check_history(dir.path()).unwrap_err().contains("directory"));
        assert!(check_history(&file.join("h.jsonl")).is_err());
        let h = dir.path().join("h.jsonl");
        check_history(&h).unwrap();
        assert!(!h.exists());
    }
}
