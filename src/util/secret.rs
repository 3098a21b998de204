//! Credentials in URLs: split off userinfo (as curl does), build the Basic header, redact passwords wherever a URL is shown.

use std::borrow::Cow;

use base64::Engine as _;

/// `user[:password]` from a URL's authority, percent-decoded.
#[derive(Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub user: String,
    pub password: Option<String>,
}

impl std::fmt::Debug for UserInfo {
    // A Debug print (a panic message, a trace) must not carry the password either.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserInfo")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl UserInfo {
    /// The `Authorization` value curl sends for `http://user:password@host/`.
    pub fn basic_auth(&self) -> String {
        let pair = format!("{}:{}", self.user, self.password.as_deref().unwrap_or(""));
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }

    /// `user:***@` (or `user@`), as the URL is shown.
    pub fn shown(&self) -> String {
        match self.password {
            Some(_) => format!("{}:***@", self.user),
            None => format!("{}@", self.user),
        }
    }
}

/// Splits `user:pw@host:port` into its userinfo and `host:port`.
pub fn split_userinfo(authority: &str) -> (Option<UserInfo>, &str) {
    match authority.rsplit_once('@') {
        None => (None, authority),
        Some((info, host)) => {
            let (user, password) = match info.split_once(':') {
                Some((u, p)) => (u, Some(super::text::percent_decode(p))),
                None => (info, None),
            };
            (
                Some(UserInfo {
                    user: super::text::percent_decode(user),
                    password,
                }),
                host,
            )
        }
    }
}

/// Replaces the password of every `scheme://user:password@` in `text` with
/// `***`, so a URL can be printed, logged or stored. Text without one is
/// returned as it is.
pub fn redact(text: &str) -> Cow<'_, str> {
    if !text.contains("://") || !text.contains('@') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut changed = false;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        // The authority ends at the first '/', '?', '#' or whitespace (or a quote, in messages).
        let end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#' | '\'' | '"' | '`') || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rsplit_once('@') {
            Some((info, host)) if info.contains(':') => {
                let user = info.split_once(':').map_or(info, |(u, _)| u);
                out.push_str(user);
                out.push_str(":***@");
                out.push_str(host);
                changed = true;
            }
            _ => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_becomes_basic_auth_and_leaves_the_host() {
        let (info, host) = split_userinfo("alice:S3cr3t%40PW@127.0.0.1:8080");
        let info = info.unwrap();
        assert_eq!(host, "127.0.0.1:8080");
        assert_eq!(info.user, "alice");
        assert_eq!(info.password.as_deref(), Some("S3cr3t@PW"));
        // base64("alice:S3cr3t@PW")
        assert_eq!(info.basic_auth(), "Basic YWxpY2U6UzNjcjN0QFBX");
        assert_eq!(info.shown(), "alice:***@");
        assert!(!format!("{info:?}").contains("S3cr3t"));
        assert_eq!(split_userinfo("h:1").0, None);
    }

    #[test]
    fn redacts_every_url_in_a_text() {
        let t = "invalid URL 'http://alice:pw@h:1/x' and https://bob:zz@other/ ok";
        assert_eq!(
            redact(t),
            "invalid URL 'http://alice:***@h:1/x' and https://bob:***@other/ ok"
        );
        assert!(matches!(redact("http://h/x@y"), Cow::Borrowed(_)));
        assert_eq!(redact("http://user@h/"), "http://user@h/");
    }
}

/// A shared secret (an agent's token): never printed, compared in
/// constant time. Debug shows `Token(***)`.
#[derive(Clone)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

/// Tokens shorter than this are refused: a guessable token would let
/// anyone who reaches an agent point its load somewhere allowed.
pub const MIN_TOKEN: usize = 16;

/// The environment variable an agent (and a coordinator of static agents)
/// reads the token from when no file is given. Commands rampdeck starts
/// (`[[stat]]`) never inherit it: their output reaches run.jsonl.
pub const AGENT_TOKEN_ENV: &str = "RAMPDECK_AGENT_TOKEN";

impl Token {
    /// A token as read from a file or the environment (surrounding
    /// whitespace, such as a trailing newline, is not part of it).
    pub fn new(text: &str) -> Result<Token, String> {
        let t = text.trim();
        if t.len() < MIN_TOKEN {
            return Err(format!(
                "the token is {} characters; it must be at least {MIN_TOKEN}",
                t.len()
            ));
        }
        if t.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("the token must not contain spaces or control characters".into());
        }
        Ok(Token(t.to_owned()))
    }

    /// 32 random bytes from the OS, as 64 hex digits.
    pub fn random() -> std::io::Result<Token> {
        use std::io::Read;
        let mut b = [0u8; 32];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
        Ok(Token(b.iter().map(|x| format!("{x:02x}")).collect()))
    }

    /// Whether `presented` is this token, in time that does not depend on
    /// where they differ.
    pub fn matches(&self, presented: &str) -> bool {
        same_secret(self.0.as_bytes(), presented.as_bytes())
    }

    /// The `Authorization` header value a coordinator sends.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }

    /// The secret itself, for the one place it must go (a child's
    /// environment, a Kubernetes Secret); never for a log.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Compares two secrets in time that depends only on their lengths.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() != b.len()) as u8;
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    // Keep the optimizer from turning the loop into an early exit.
    std::hint::black_box(diff) == 0
}
