//! Text for operators: remote text made safe for a terminal (control characters escaped), and error chains spelled out.

use std::borrow::Cow;

/// Escapes every control character (C0, DEL, C1) except none: a scrape
/// body, a PromQL error, a stat command's output or a server's error text
/// can hold `ESC ] 0 ; ... BEL` (retitles the terminal) or `ESC [ 2 J`
/// (clears it). Printed as `\x1b`, they are visible and harmless. Tabs
/// become a space, since panes and one-line logs have no tab stops.
pub fn sanitize(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c == '\t' {
            out.push(' ');
        } else if needs_escape(c) {
            let n = c as u32;
            if n <= 0xff {
                out.push_str(&format!("\\x{n:02x}"));
            } else {
                out.push_str(&format!("\\u{{{n:x}}}"));
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// At most `max` characters of `s`; a longer text is cut and says how
/// much was left out, so a server's 200 KB error text is one readable line.
pub fn clip(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => Cow::Borrowed(s),
        Some((end, _)) => Cow::Owned(format!("{}... ({} more bytes)", &s[..end], s.len() - end)),
    }
}

/// `sanitize` into an owned string.
pub fn sanitized(s: &str) -> String {
    sanitize(s).into_owned()
}

fn needs_escape(c: char) -> bool {
    // Newlines too: one message is one line in the log and the panes.
    // U+2028/2029 and the bidi overrides can also reorder what is shown.
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// An error and its sources, "outer: inner: root", as operators need to read it.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(err) = cur {
        s.push_str(": ");
        s.push_str(&err.to_string());
        cur = err.source();
    }
    s
}

/// `eprintln!` that never panics: a closed stderr (a pipe whose reader
/// went away) must not bring a run down before its summary is written.
#[doc(hidden)]
#[macro_export]
macro_rules! stderr_line {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
pub use stderr_line;

/// Decodes `%XX` escapes (URL userinfo, gRPC's grpc-message); a `%` not
/// followed by two hex digits stays as it is, and bad UTF-8 is replaced.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_cuts_long_text_on_a_character_and_says_how_long_it_was() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("ééééé", 5), "ééééé");
        assert_eq!(clip("éééééé", 2), "éé... (8 more bytes)");
    }

    #[test]
    fn escapes_terminal_sequences() {
        let hostile = "up\x1b]0;pwned\x07\x1b[2Jdown\r\n\u{9b}x";
        let s = sanitize(hostile);
        assert_eq!(s, "up\\x1b]0;pwned\\x07\\x1b[2Jdown\\x0d\\x0a\\x9bx");
        assert!(!s.chars().any(char::is_control));
        assert!(matches!(sanitize("plain text µs ✓"), Cow::Borrowed(_)));
        assert_eq!(sanitize("a\tb"), "a b");
    }
}

/// `line` in lines of at most `width` characters, broken at the last space
/// that fits (the spacing within a line is kept); the lines after the first
/// are indented two more than it (a word longer than the width stays whole).
pub fn wrap(line: &str, width: usize) -> Vec<String> {
    let lead = line.len() - line.trim_start().len();
    let hang = " ".repeat(lead + 2);
    let mut out = Vec::new();
    let mut rest = line.to_owned();
    while rest.chars().count() > width {
        let indent = rest.len() - rest.trim_start().len();
        // The byte index of the last space at or before `width` characters,
        // past the indent; else the first space after it.
        let limit = rest
            .char_indices()
            .nth(width)
            .map_or(rest.len(), |(i, _)| i);
        // A space right at the width is a fine place to break too.
        let upto = if rest[limit..].starts_with(' ') {
            limit + 1
        } else {
            limit
        };
        let cut = rest[indent..upto]
            .rfind(' ')
            .map(|i| i + indent)
            .or_else(|| rest[limit..].find(' ').map(|i| i + limit));
        let Some(cut) = cut.filter(|&c| c > indent) else {
            break;
        };
        out.push(rest[..cut].trim_end().to_owned());
        rest = format!("{hang}{}", rest[cut..].trim_start());
    }
    out.push(rest);
    out
}

#[cfg(test)]
mod wrap_tests {
    use super::wrap;

    #[test]
    fn long_lines_break_at_spaces_under_a_hanging_indent() {
        let l = "  Note: 12 requests went again on a new connection: the server closed it";
        assert_eq!(wrap(l, 80), vec![l.to_owned()]);
        let w = wrap(l, 30);
        assert!(w.iter().all(|x| x.chars().count() <= 30), "{w:?}");
        assert_eq!(w[0], "  Note: 12 requests went again");
        assert!(w[1].starts_with("    on a new"), "{w:?}");
        assert_eq!(
            w.join(" ").split_whitespace().count(),
            l.split_whitespace().count()
        );
    }
}
