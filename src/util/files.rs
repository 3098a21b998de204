//! Bounded file input: every file rampdeck is handed is read through here, so an endless
//! or huge input (`/dev/zero`, a wrong path) is refused by name instead of filling memory.
//!
//! Each kind of input has its own limit, named in the error. Regular files
//! and pipes (`--token-file <(pass show x)`) are read; devices, sockets and
//! directories are refused before a byte is read.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// One kind of input file and the most rampdeck reads of it.
#[derive(Debug, Clone, Copy)]
pub struct FileKind {
    /// What the file is, as messages name it ("a token file").
    pub what: &'static str,
    pub limit: u64,
}

const MIB: u64 = 1024 * 1024;

pub const PROFILE: FileKind = FileKind {
    what: "a profile",
    limit: super::limits::MAX_PROFILE_BYTES,
};
pub const TOKEN: FileKind = FileKind {
    what: "a token file",
    limit: 64 * 1024,
};
pub const DESCRIPTOR_SET: FileKind = FileKind {
    what: "a descriptor set",
    limit: 64 * MIB,
};
pub const MESSAGE: FileKind = FileKind {
    what: "a message file",
    limit: 16 * MIB,
};
pub const DATA: FileKind = FileKind {
    what: "a [[data]] file",
    limit: 8 * MIB,
};
pub const MANIFEST: FileKind = FileKind {
    what: "a manifest",
    limit: 16 * MIB,
};
/// summary.json, capacity.json, a scenario's result.
pub const SUMMARY: FileKind = FileKind {
    what: "a summary",
    limit: 256 * MIB,
};
/// One line of a run log or a history file (the log itself is streamed).
pub const LOG_LINE: FileKind = FileKind {
    what: "a run log line",
    limit: 64 * MIB,
};
pub const HISTORY: FileKind = FileKind {
    what: "a history file",
    limit: 1024 * MIB,
};

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot read {what} '{path}': {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("'{path}' is {found}, not a file: {what} must be a regular file (or a pipe)")]
    NotAFile {
        what: &'static str,
        path: PathBuf,
        found: &'static str,
    },
    #[error("'{path}' is larger than the most rampdeck reads for {what} ({limit})")]
    TooLarge {
        what: &'static str,
        path: PathBuf,
        limit: String,
    },
    #[error("{what} '{path}' is not UTF-8 text: {message}")]
    NotText {
        what: &'static str,
        path: PathBuf,
        message: String,
    },
}

/// The limit as a message writes it.
pub fn limit_text(bytes: u64) -> String {
    if bytes >= MIB && bytes % MIB == 0 {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= 1024 && bytes % 1024 == 0 {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

/// Opens `path` for reading if it is a regular file or a pipe.
pub fn open(path: &Path, kind: FileKind) -> Result<File, FileError> {
    use std::os::unix::fs::FileTypeExt;
    let read_err = |source| FileError::Read {
        what: kind.what,
        path: path.to_owned(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    let t = meta.file_type();
    let found = if t.is_file() || t.is_fifo() {
        None
    } else if t.is_dir() {
        Some("a directory")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else if t.is_socket() {
        Some("a socket")
    } else {
        Some("not a regular file")
    };
    if let Some(found) = found {
        return Err(FileError::NotAFile {
            what: kind.what,
            path: path.to_owned(),
            found,
        });
    }
    if t.is_file() && meta.len() > kind.limit {
        return Err(too_large(path, kind));
    }
    File::open(path).map_err(read_err)
}

fn too_large(path: &Path, kind: FileKind) -> FileError {
    FileError::TooLarge {
        what: kind.what,
        path: path.to_owned(),
        limit: limit_text(kind.limit),
    }
}

/// Reads at most `kind.limit` bytes of `path`; more is an error naming the limit.
pub fn read_bytes(path: &Path, kind: FileKind) -> Result<Vec<u8>, FileError> {
    let f = open(path, kind)?;
    let mut out = Vec::new();
    f.take(kind.limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|source| FileError::Read {
            what: kind.what,
            path: path.to_owned(),
            source,
        })?;
    if out.len() as u64 > kind.limit {
        return Err(too_large(path, kind));
    }
    Ok(out)
}

/// `read_bytes` as UTF-8 text.
pub fn read_text(path: &Path, kind: FileKind) -> Result<String, FileError> {
    String::from_utf8(read_bytes(path, kind)?).map_err(|e| FileError::NotText {
        what: kind.what,
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// Reads one line (up to and including `\n`) into `buf`, at most
/// `limit` bytes of it; returns the bytes read (0 at the end), or
/// `Err(())` when the line is longer than the limit.
pub fn read_line_bounded(
    r: &mut (impl std::io::BufRead + ?Sized),
    buf: &mut Vec<u8>,
    limit: u64,
) -> std::io::Result<Result<usize, ()>> {
    buf.clear();
    use std::io::BufRead;
    let n = std::io::Read::take(&mut *r, limit.saturating_add(1)).read_until(b'\n', buf)?;
    if n as u64 > limit && buf.last() != Some(&b'\n') {
        return Ok(Err(()));
    }
    Ok(Ok(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_and_directories_are_refused_before_reading() {
        let e = read_bytes(Path::new("/dev/zero"), DESCRIPTOR_SET).unwrap_err();
        assert!(e.to_string().contains("a character device"), "{e}");
        assert!(e.to_string().contains("descriptor set"), "{e}");
        let e = read_bytes(Path::new("/tmp"), TOKEN).unwrap_err();
        assert!(e.to_string().contains("a directory"), "{e}");
    }

    #[test]
    fn a_file_over_its_limit_is_refused_naming_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("token");
        std::fs::write(&p, vec![b'a'; 70 * 1024]).unwrap();
        let e = read_text(&p, TOKEN).unwrap_err();
        assert!(e.to_string().contains("64 KiB"), "{e}");
        std::fs::write(&p, "secret\n").unwrap();
        assert_eq!(read_text(&p, TOKEN).unwrap(), "secret\n");
    }

    #[test]
    fn an_endless_pipe_stops_at_the_limit() {
        // A FIFO fed forever: the read stops one byte past the limit.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&p)
            .status()
            .unwrap();
        assert!(status.success());
        let writer_path = p.clone();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&writer_path) {
                let chunk = [b'x'; 4096];
                while f.write_all(&chunk).is_ok() {}
            }
        });
        let e = read_bytes(&p, TOKEN).unwrap_err();
        assert!(matches!(e, FileError::TooLarge { .. }), "{e}");
        writer.join().unwrap();
    }

    #[test]
    fn long_lines_are_cut_at_the_limit() {
        let mut r = std::io::Cursor::new(b"short\nlonger line\n".to_vec());
        let mut buf = Vec::new();
        assert_eq!(read_line_bounded(&mut r, &mut buf, 8).unwrap(), Ok(6));
        assert_eq!(read_line_bounded(&mut r, &mut buf, 8).unwrap(), Err(()));
    }
}
