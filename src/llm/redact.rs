//! Redaction, pure: secrets in text are replaced by `[redacted]` before the
//! text is sent to a model, logged or stored. What counts as a secret: AWS
//! access key ids (`AKIA…`/`ASIA…`), Slack tokens (`xoxb-`, `xoxp-`, `xoxa-`,
//! …), bearer tokens, the values of `password=` / `secret=` / `token=` /
//! `api_key=` style assignments, PEM private keys, and the literal API keys
//! the configuration reads from the environment.
//!
//! Invariant: redacting twice changes nothing more than redacting once.

use regex::Regex;
use std::sync::LazyLock;

pub const REDACTED: &str = "[redacted]";

/// Shortest literal key taken as a secret; shorter strings would match words.
const MIN_LITERAL: usize = 8;

static PATTERNS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|\z)",
            REDACTED,
        ),
        (r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", REDACTED),
        (r"\bxox[abposr]-[A-Za-z0-9-]+", REDACTED),
        (r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}", "$1 [redacted]"),
        (
            r#"(?i)\b(password|passwd|pwd|secret|client_secret|api_key|apikey|token|access_key)(\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;&]+)"#,
            "$1$2[redacted]",
        ),
    ]
    .into_iter()
    .map(|(pattern, replacement)| {
        // The patterns are constants: a bad one is a programming error caught by the tests.
        (Regex::new(pattern).unwrap_or_else(|e| panic!("redaction pattern {pattern}: {e}")), replacement)
    })
    .collect()
});

/// Redacts the patterns above plus `literals` (API keys read from the environment).
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    literals: Vec<String>,
}

impl Redactor {
    pub fn new(literals: impl IntoIterator<Item = String>) -> Redactor {
        let mut literals: Vec<String> = literals
            .into_iter()
            .map(|l| l.trim().to_string())
            .filter(|l| l.len() >= MIN_LITERAL)
            .collect();
        // Longest first, so a key containing another is replaced whole.
        literals.sort_by_key(|l| std::cmp::Reverse(l.len()));
        Redactor { literals }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for literal in &self.literals {
            if out.contains(literal.as_str()) {
                out = out.replace(literal.as_str(), REDACTED);
            }
        }
        for (pattern, replacement) in PATTERNS.iter() {
            if pattern.is_match(&out) {
                out = pattern.replace_all(&out, *replacement).into_owned();
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(text: &str) -> String {
        Redactor::default().redact(text)
    }

    #[test]
    fn aws_access_keys_and_slack_tokens_go() {
        assert_eq!(
            r("key AKIAIOSFODNN7EXAMPLE in us-east-1"),
            "key [redacted] in us-east-1"
        );
        assert_eq!(r("token xoxb-123-456-abcDEF ok"), "token [redacted] ok");
        assert_eq!(r("xoxp-1-2 and xoxa-2-3"), "[redacted] and [redacted]");
    }

    #[test]
    fn bearer_tokens_and_assignments_keep_their_names() {
        assert_eq!(
            r("Authorization: Bearer eyJhbGciOi.J9abc"),
            "Authorization: Bearer [redacted]"
        );
        assert_eq!(
            r("db password=hunter22, secret: \"a b c\" next"),
            "db password=[redacted], secret: [redacted] next"
        );
        assert_eq!(r("api_key='sk-1234'"), "api_key=[redacted]");
    }

    #[test]
    fn pem_private_keys_go_whole_even_unterminated() {
        let pem =
            "a\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nabc\n-----END RSA PRIVATE KEY-----\nb";
        assert_eq!(r(pem), "a\n[redacted]\nb");
        assert_eq!(r("x -----BEGIN PRIVATE KEY-----\nMIIE"), "x [redacted]");
    }

    #[test]
    fn configured_keys_are_redacted_literally_and_short_ones_ignored() {
        let redactor = Redactor::new(["sk-ant-SECRET123456".to_string(), "abc".to_string()]);
        assert_eq!(
            redactor.redact("use sk-ant-SECRET123456 abc"),
            "use [redacted] abc"
        );
    }

    #[test]
    fn ordinary_requests_are_untouched_and_redaction_is_idempotent() {
        let text = "connect aws lambda OrderProcessor in us-east-1 to azure sql orderdb in East US, 500 GB/month";
        assert_eq!(r(text), text);
        let once = r("password=x AKIAIOSFODNN7EXAMPLE Bearer abcdefghijkl");
        assert_eq!(r(&once), once);
    }

    proptest::proptest! {
        #[test]
        fn redaction_never_panics_is_idempotent_and_removes_access_keys(
            text in "\\PC{0,200}",
            key in "AKIA[0-9A-Z]{16}",
        ) {
            let r = Redactor::new(["sk-configured-1234".to_string()]);
            let once = r.redact(&format!("{text} {key} sk-configured-1234"));
            proptest::prop_assert!(!once.contains(&key));
            proptest::prop_assert!(!once.contains("sk-configured-1234"));
            proptest::prop_assert_eq!(r.redact(&once), once);
        }
    }
}
