//! Scrubbing secrets out of any text that leaves a call (B4).
//!
//! Secrets are typed ([`secrecy::SecretString`]), so `Debug` never shows them. What
//! typing cannot catch is the channel *echoing* them: an error body that repeats the
//! request URL with `access_token=...`, a Graph `paging.next` link, a transport error
//! that names the URL. Every reason an [`crate::Outcome`] carries passes through
//! [`Redactor::scrub`], which removes the account's own secrets wherever they appear and
//! the value of every well-known credential parameter, whoever's it is.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// What replaces a secret.
pub const MASK: &str = "[REDACTED]";

/// How much of a body a reason quotes: enough to recognise an error page or a truncated
/// document, short enough for a log line.
pub(crate) const SNIPPET_BYTES: usize = 200;

/// How much of a body is scrubbed before the snippet is cut from it. Larger than the
/// snippet by far more than any token's length, so that a token straddling the snippet's
/// end is seen whole by the scrubber before the cut.
const SCRUB_WINDOW_BYTES: usize = 4096;

/// Parameter names whose values are credentials, matched case-insensitively as
/// `name=value`, `"name":"value"` or `name: value`.
const CREDENTIAL_KEYS: [&str; 7] = [
    "access_token",
    "refresh_token",
    "partner_key",
    "client_secret",
    "appsecret_proof",
    "secret_key",
    "sign",
];

/// The secrets of one call, borrowed for as long as the call runs.
#[derive(Clone, Default)]
pub struct Redactor<'a> {
    secrets: Vec<&'a SecretString>,
}

impl fmt::Debug for Redactor<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

impl<'a> Redactor<'a> {
    pub fn new(secrets: impl IntoIterator<Item = &'a SecretString>) -> Self {
        Self {
            secrets: secrets.into_iter().collect(),
        }
    }

    /// `text` with every known secret (raw or percent-encoded) and every credential
    /// parameter's value replaced by [`MASK`].
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            let raw = secret.expose_secret();
            if raw.is_empty() {
                continue;
            }
            out = out.replace(raw, MASK);
            let encoded: String = url::form_urlencoded::byte_serialize(raw.as_bytes()).collect();
            if encoded != raw {
                out = out.replace(&encoded, MASK);
            }
        }
        mask_credential_values(&out)
    }

    /// The first [`SNIPPET_BYTES`] of a body as text, scrubbed, for a reason string.
    pub fn snippet(&self, body: &[u8]) -> String {
        if body.is_empty() {
            return "<empty body>".to_owned();
        }
        let window = &body[..body.len().min(SCRUB_WINDOW_BYTES)];
        let scrubbed = self.scrub(&String::from_utf8_lossy(window));
        let mut end = scrubbed.len().min(SNIPPET_BYTES);
        while !scrubbed.is_char_boundary(end) {
            end -= 1;
        }
        let mut snippet: String = scrubbed[..end]
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        if end < scrubbed.len() || window.len() < body.len() {
            snippet.push('…');
        }
        snippet
    }
}

/// Replaces the value of every `key=value`, `"key":"value"`, `key: value` whose key is
/// in [`CREDENTIAL_KEYS`], and every `Bearer value`.
fn mask_credential_values(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        match credential_value_at(bytes, i) {
            Some((start, end)) => {
                // `start` and `end` sit next to ASCII bytes, so they are char boundaries.
                out.push_str(&text[copied..start]);
                out.push_str(MASK);
                copied = end;
                i = end;
            }
            None => i += 1,
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// If a credential key starts at `i`, the byte range of its value.
fn credential_value_at(bytes: &[u8], i: usize) -> Option<(usize, usize)> {
    if i > 0 && is_word(bytes[i - 1]) {
        return None;
    }
    let rest = &bytes[i..];
    let start = if rest.starts_with(b"bearer ") {
        skip(bytes, i + "bearer".len(), |b| b == b' ')
    } else {
        let key = CREDENTIAL_KEYS
            .iter()
            .find(|k| rest.starts_with(k.as_bytes()))?;
        let after_key = i + key.len();
        if bytes.get(after_key).copied().is_some_and(is_word) {
            return None;
        }
        let j = skip(bytes, after_key, |b| {
            matches!(b, b'"' | b'\'' | b'\\' | b' ')
        });
        if !matches!(bytes.get(j), Some(b'=' | b':')) {
            return None;
        }
        skip(bytes, j + 1, |b| matches!(b, b'"' | b'\'' | b'\\' | b' '))
    };
    let end = skip(bytes, start, |b| !is_delimiter(b));
    (end > start).then_some((start, end))
}

fn skip(bytes: &[u8], from: usize, what: impl Fn(u8) -> bool) -> usize {
    from + bytes[from.min(bytes.len())..]
        .iter()
        .take_while(|b| what(**b))
        .count()
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn is_delimiter(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            b'&' | b'"' | b'\'' | b'\\' | b',' | b';' | b'<' | b'>' | b'#' | b'}' | b')' | b']'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> SecretString {
        SecretString::from("EAAB-secret-token-123")
    }

    #[test]
    fn the_accounts_own_token_is_masked_wherever_it_appears() {
        let token = token();
        let r = Redactor::new([&token]);
        let text = "token EAAB-secret-token-123 and again EAAB-secret-token-123.";
        assert_eq!(r.scrub(text), "token [REDACTED] and again [REDACTED].");
    }

    #[test]
    fn access_token_parameters_of_any_token_are_masked_in_urls_json_and_headers() {
        let r = Redactor::default();
        assert_eq!(
            r.scrub("GET /v25.0/1/conversations?limit=5&access_token=abc.def&after=x"),
            "GET /v25.0/1/conversations?limit=5&access_token=[REDACTED]&after=x"
        );
        assert_eq!(
            r.scrub(r#"{"access_token": "zzz","x":1}"#),
            r#"{"access_token": "[REDACTED]","x":1}"#
        );
        assert_eq!(
            r.scrub(r#"{\"ACCESS_TOKEN\":\"zzz\"}"#),
            r#"{\"ACCESS_TOKEN\":\"[REDACTED]\"}"#
        );
        assert_eq!(
            r.scrub("access_token: zzz\r\n"),
            "access_token: [REDACTED]\r\n"
        );
        assert_eq!(
            r.scrub("Authorization: Bearer zzz"),
            "Authorization: Bearer [REDACTED]"
        );
        assert_eq!(
            r.scrub("&sign=abcdef&shop_id=1"),
            "&sign=[REDACTED]&shop_id=1"
        );
    }

    #[test]
    fn words_that_merely_contain_a_key_are_left_alone() {
        let r = Redactor::default();
        let text = "design=blue signature=ok my_access_token_hint=fine";
        assert_eq!(r.scrub(text), text);
    }

    #[test]
    fn a_token_straddling_the_snippet_end_never_leaks_a_prefix() {
        let token = SecretString::from("T".repeat(300));
        let r = Redactor::new([&token]);
        let body = format!("{}{}", "x".repeat(150), "T".repeat(300));
        let snippet = r.snippet(body.as_bytes());
        assert!(!snippet.contains("TT"), "{snippet}");
        assert!(snippet.starts_with(&"x".repeat(150)));
    }

    #[test]
    fn snippets_are_short_and_cut_on_a_char_boundary() {
        let body = "é".repeat(500);
        let snippet = Redactor::default().snippet(body.as_bytes());
        assert!(snippet.len() <= SNIPPET_BYTES + '…'.len_utf8());
        assert!(snippet.ends_with('…'));
    }
}
