//! Profile errors: every message names the file, line, column and field, and says what is allowed.

use std::ops::Range;

/// Everything that can be wrong with a profile or the flags that override it.
/// All of these are the user's input, so the CLI maps them to exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("{path}: cannot read profile: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// A problem at a known place in the file, with toml-style caret excerpt.
    #[error("{path}:{line}:{col}: {message}\n{excerpt}")]
    At {
        path: String,
        line: usize,
        col: usize,
        message: String,
        excerpt: String,
    },
    /// A problem with the profile as a whole (no single place to point at).
    #[error("{path}: {message}")]
    Whole { path: String, message: String },
    /// A command-line flag that overrides the profile is invalid.
    #[error("{flag}: {message}")]
    Flag { flag: String, message: String },
}

/// A profile's text and display path, used to turn byte spans into positions.
pub struct Source<'a> {
    pub path: &'a str,
    pub text: &'a str,
}

impl Source<'_> {
    /// An error pointing at `span`, rendered like toml's own parse errors.
    pub fn at(&self, span: Range<usize>, message: impl Into<String>) -> ProfileError {
        let start = span.start.min(self.text.len());
        let (line, col, line_text) = self.position(start);
        let width = span.end.saturating_sub(span.start).max(1);
        // Keep the caret on the line it starts on.
        let width = width.min(line_text.chars().count().saturating_sub(col - 1).max(1));
        let gutter = " ".repeat(line.to_string().len());
        let excerpt = format!(
            "{gutter} |\n{line} | {line_text}\n{gutter} | {}{}",
            " ".repeat(col - 1),
            "^".repeat(width)
        );
        ProfileError::At {
            path: self.path.to_owned(),
            line,
            col,
            message: message.into(),
            excerpt,
        }
    }

    pub fn whole(&self, message: impl Into<String>) -> ProfileError {
        ProfileError::Whole {
            path: self.path.to_owned(),
            message: message.into(),
        }
    }

    /// The dotted field a value at `offset` belongs to, e.g. "load.duration":
    /// the key written before `=` on its line, under the last table header.
    pub fn field_at(&self, offset: usize) -> Option<String> {
        let before = &self.text[..floor_char_boundary(self.text, offset)];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let (key, _) = before[line_start..].split_once('=')?;
        let key = key.trim();
        let is_key = |k: &str| {
            !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '"'))
        };
        if !is_key(key) {
            return None;
        }
        let table = before[..line_start]
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| l.starts_with('['))
            .map(|l| {
                l.trim_start_matches('[')
                    .split(']')
                    .next()
                    .unwrap_or("")
                    .trim()
            });
        Some(match table {
            Some(t) if !t.is_empty() => format!("{t}.{key}"),
            _ => key.to_owned(),
        })
    }

    /// 1-based line and column (in characters) of a byte offset, and that line's text.
    fn position(&self, offset: usize) -> (usize, usize, &str) {
        let before = &self.text[..floor_char_boundary(self.text, offset)];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        let line_end = self.text[line_start..]
            .find('\n')
            .map_or(self.text.len(), |i| line_start + i);
        let line_text = self.text[line_start..line_end].trim_end_matches('\r');
        (line, col, line_text)
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_at_line_and_column() {
        let src = Source {
            path: "p.toml",
            text: "[load]\nrate = \"fast\"\n",
        };
        let err = src.at(14..20, "invalid type").to_string();
        assert_eq!(
            err,
            "p.toml:2:8: invalid type\n  |\n2 | rate = \"fast\"\n  |        ^^^^^^"
        );
    }

    #[test]
    fn span_past_end_is_clamped() {
        let src = Source {
            path: "p.toml",
            text: "a = 1",
        };
        let err = src.at(99..120, "x").to_string();
        assert!(err.starts_with("p.toml:1:6: x"), "{err}");
    }
}
