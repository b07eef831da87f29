//! PII redaction: email addresses, IP addresses, and keys and tokens found by pattern or by
//! entropy, each replaced with a placeholder token.
//!
//! ## What it does
//! Finds, in one pass per detector, and replaces:
//! - email addresses with `<EMAIL>`;
//! - public IPv4 and IPv6 addresses with `<IP_ADDRESS>` (private, loopback, link-local and
//!   documentation ranges are not personal data and stay; so do dotted numbers after
//!   `version` or `v`, which are versions);
//! - keys and tokens with `<KEY>`: known formats (AWS access keys, GitHub, GitLab, Slack,
//!   Stripe and Google API tokens, JWTs, PEM private keys) and, after a telling name (`key`,
//!   `secret`, `token`, `password`, ...), quoted values whose Shannon entropy is high.
//!
//! ## Why
//! BigCode's StarCoder data redacted the same kinds with the same placeholders; the entropy
//! check follows detect-secrets (high-entropy strings), limited to assignments to secret-like
//! names because hashes and checksums are high-entropy too and are not secrets.
//!
//! Redaction is idempotent: placeholders match no detector.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// Which detectors run, and the entropy bar for keyword-context secrets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PiiConfig {
    /// Run the stage.
    pub enabled: bool,
    pub emails: bool,
    pub ip_addresses: bool,
    pub keys: bool,
    /// Minimum Shannon entropy (bits per character) of a quoted value assigned to a secret-like
    /// name for it to count as a secret.
    pub min_secret_entropy: f64,
}

impl Default for PiiConfig {
    fn default() -> Self {
        PiiConfig {
            enabled: true,
            emails: true,
            ip_addresses: true,
            keys: true,
            min_secret_entropy: 3.0,
        }
    }
}

/// The kind of a redacted span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Email,
    IpAddress,
    Key,
}

impl Kind {
    /// Placeholder written in place of the span.
    pub fn placeholder(self) -> &'static str {
        match self {
            Kind::Email => "<EMAIL>",
            Kind::IpAddress => "<IP_ADDRESS>",
            Kind::Key => "<KEY>",
        }
    }

    /// Name in side files and the summary.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::IpAddress => "ip_address",
            Kind::Key => "key",
        }
    }
}

/// A span to redact (byte offsets into the original text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub kind: Kind,
}

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}\b")
        .expect("valid regex")
});
static IPV4: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(?:\d{1,3}\.){3}\d{1,3}\b").expect("valid regex"));
static IPV6: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}").expect("valid regex"));
static KEY_PATTERNS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
        r"|\bgh[pousr]_[A-Za-z0-9]{36,255}\b",
        r"|\bgithub_pat_[A-Za-z0-9_]{60,255}\b",
        r"|\bglpat-[A-Za-z0-9_-]{20}\b",
        r"|\bxox[abpors]-[A-Za-z0-9-]{10,100}\b",
        r"|\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,99}\b",
        r"|\bAIza[0-9A-Za-z_-]{35}\b",
        r"|\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
        r"|-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z]+ )?PRIVATE KEY-----",
    ))
    .expect("valid regex")
});
static SECRET_ASSIGNMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r#"(?i)[A-Za-z0-9_.-]*(?:api[_-]?key|secret|token|passw(?:or)?d|pwd|auth|credential|private[_-]?key|access[_-]?key)[A-Za-z0-9_.-]*"#,
        r#"["']?\s*(?:=|:|:=|=>)\s*[bru]?["']([^"'\s]{8,200})["']"#,
    ))
    .expect("valid regex")
});

/// Find every span to redact, sorted and without overlaps (the earlier, then longer, wins).
pub fn find(config: &PiiConfig, text: &str) -> Vec<Span> {
    let mut spans = Vec::new();
    if config.keys {
        keys(config, text, &mut spans);
    }
    if config.emails && text.contains('@') {
        for m in EMAIL.find_iter(text) {
            spans.push(Span {
                start: m.start(),
                end: m.end(),
                kind: Kind::Email,
            });
        }
    }
    if config.ip_addresses {
        ips(text, &mut spans);
    }
    spans.sort_by_key(|span| (span.start, std::cmp::Reverse(span.end)));
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for span in spans {
        if out.last().is_none_or(|last| span.start >= last.end) {
            out.push(span);
        }
    }
    out
}

/// Replace `spans` (as from [`find`]) with their placeholders.
pub fn redact(text: &str, spans: &[Span]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for span in spans {
        out.push_str(&text[at..span.start]);
        out.push_str(span.kind.placeholder());
        at = span.end;
    }
    out.push_str(&text[at..]);
    out
}

fn keys(config: &PiiConfig, text: &str, spans: &mut Vec<Span>) {
    for m in KEY_PATTERNS.find_iter(text) {
        spans.push(Span {
            start: m.start(),
            end: m.end(),
            kind: Kind::Key,
        });
    }
    for caps in SECRET_ASSIGNMENT.captures_iter(text) {
        let value = caps.get(1).expect("group 1 always takes part");
        let looks_placeholder = {
            let lower = value.as_str().to_ascii_lowercase();
            [
                "xxx",
                "your",
                "example",
                "changeme",
                "placeholder",
                "dummy",
                "<",
                "${",
                "{{",
                "%s",
                "***",
            ]
            .iter()
            .any(|marker| lower.contains(marker))
        };
        if !looks_placeholder && shannon_entropy(value.as_str()) >= config.min_secret_entropy {
            spans.push(Span {
                start: value.start(),
                end: value.end(),
                kind: Kind::Key,
            });
        }
    }
}

fn ips(text: &str, spans: &mut Vec<Span>) {
    for m in IPV4.find_iter(text) {
        let Ok(addr) = m.as_str().parse::<Ipv4Addr>() else {
            continue;
        };
        // Versions: `version` earlier on the same line, or a `v` right before.
        let line_start = text[..m.start()].rfind('\n').map_or(0, |p| p + 1);
        let before = text[line_start..m.start()].to_ascii_lowercase();
        let is_version = before.contains("version") || before.ends_with('v');
        let adjoining_dot = text[m.end()..].starts_with('.')
            && text[m.end() + 1..].starts_with(|c: char| c.is_ascii_digit());
        if is_public(IpAddr::V4(addr)) && !is_version && !adjoining_dot {
            spans.push(Span {
                start: m.start(),
                end: m.end(),
                kind: Kind::IpAddress,
            });
        }
    }
    if !text.contains("::") && !text.contains(':') {
        return;
    }
    for m in IPV6.find_iter(text) {
        let candidate = m.as_str();
        // At least three groups, one with three or more hex digits: `a::b` in C++ and `12:30`
        // in times are not addresses.
        let groups: Vec<&str> = candidate.split(':').filter(|g| !g.is_empty()).collect();
        let word_before = text[..m.start()]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        let word_after = text[m.end()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        if groups.len() < 3 || !groups.iter().any(|g| g.len() >= 3) || word_before || word_after {
            continue;
        }
        if let Ok(addr) = candidate.parse::<Ipv6Addr>()
            && is_public(IpAddr::V6(addr))
        {
            spans.push(Span {
                start: m.start(),
                end: m.end(),
                kind: Kind::IpAddress,
            });
        }
    }
}

fn is_public(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            let documentation = matches!((a, b, c), (192, 0, 2) | (198, 51, 100) | (203, 0, 113));
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || documentation
                || a == 0)
        }
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            let documentation = segments[0] == 0x2001 && segments[1] == 0x0db8;
            let unique_local = (segments[0] & 0xfe00) == 0xfc00;
            let link_local = (segments[0] & 0xffc0) == 0xfe80;
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || documentation
                || unique_local
                || link_local)
        }
    }
}

/// Shannon entropy in bits per character.
pub fn shannon_entropy(text: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    let mut total = 0usize;
    for ch in text.chars() {
        *counts.entry(ch).or_insert(0usize) += 1;
        total += 1;
    }
    counts
        .values()
        .map(|&count| {
            let p = count as f64 / total as f64;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn scrub(text: &str) -> String {
        let config = PiiConfig::default();
        redact(text, &find(&config, text))
    }

    #[test]
    fn redacts_each_kind() {
        let cases = [
            ("mail jane.doe@corp-mail.com now", "mail <EMAIL> now"),
            ("host = \"93.184.216.34\"", "host = \"<IP_ADDRESS>\""),
            ("connect 2a00:1450:4001:82b::200e;", "connect <IP_ADDRESS>;"),
            ("key = 'AKIAIOSFODNN7EXAMPLE'", "key = '<KEY>'"),
            (
                "t = \"ghp_abcdefghijklmnopqrstuvwxyz0123456789\"",
                "t = \"<KEY>\"",
            ),
            (
                "API_SECRET = \"q8Zr3LmX1vT9kP2w\"",
                "API_SECRET = \"<KEY>\"",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(scrub(text), want, "{text}");
        }
    }

    #[test]
    fn leaves_what_is_not_personal() {
        let keep = [
            "bind 127.0.0.1 and 10.0.0.1 and 192.168.1.1",
            "__version__ = '1.2.3.4'",
            "std::vector<int> a; a::b::c",
            "at 12:30:45 today",
            "password = \"changeme\"",
            "password = \"aaaaaaaaaa\"",
            "sha = \"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"",
            "see 192.0.2.1 in the docs",
        ];
        for text in keep {
            assert_eq!(scrub(text), text);
        }
    }

    #[test]
    fn private_key_blocks_go_whole() {
        let text =
            "k = '''-----BEGIN RSA PRIVATE KEY-----\nMIIabc\n-----END RSA PRIVATE KEY-----'''";
        assert_eq!(scrub(text), "k = '''<KEY>'''");
    }

    proptest! {
        #[test]
        fn redaction_is_idempotent(
            local in "[a-z]{1,8}", host in "[a-z]{2,8}", a in 1u8..=223, b: u8, c: u8, d: u8,
            filler in "[ a-z=;\n]{0,40}",
        ) {
            let text = format!("{filler}{local}@{host}.org {a}.{b}.{c}.{d} {filler}");
            let once = scrub(&text);
            prop_assert_eq!(scrub(&once), once.clone());
            let email = format!("{local}@{host}.org");
            prop_assert!(!once.contains(&email));
        }
    }
}
