//! Validated server ids.
//!
//! A server id travels into PromQL label matchers, NATS subjects and
//! Kubernetes names, so it is checked once at the edge and carried as a
//! [`ServerId`] afterwards. The rule is the Kubernetes DNS label (RFC 1123):
//! 1 to 63 characters of `a-z`, `0-9` and `-`, starting and ending with a
//! letter or digit. That excludes quotes, backslashes, `{}`, `.`, `*`, `>` and
//! white space, so an id can never break out of a PromQL string or span NATS
//! subject tokens.

use std::fmt;

/// Longest id allowed (a Kubernetes DNS label).
pub const MAX_ID_LEN: usize = 63;

/// An id that failed validation, with the reason a user can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid server id {shown:?}: {reason} (allowed: 1-63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit)"
)]
pub struct InvalidId {
    shown: String,
    reason: &'static str,
}

/// The id of one hosted MCP server, valid as a DNS label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerId(String);

impl ServerId {
    /// Validates `raw` and wraps it.
    pub fn parse(raw: &str) -> Result<Self, InvalidId> {
        let fail = |reason| InvalidId {
            shown: raw.chars().take(80).collect(),
            reason,
        };
        if raw.is_empty() {
            return Err(fail("it is empty"));
        }
        if raw.len() > MAX_ID_LEN {
            return Err(fail("it is longer than 63 characters"));
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(fail("it contains a character outside a-z, 0-9 and '-'"));
        }
        if raw.starts_with('-') || raw.ends_with('-') {
            return Err(fail("it starts or ends with '-'"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for ServerId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels_are_accepted() {
        for ok in ["a", "weather", "tenant-42", "0abc", &"x".repeat(63)] {
            assert!(ServerId::parse(ok).is_ok(), "{ok} should be valid");
        }
    }

    #[test]
    fn hostile_or_malformed_ids_are_rejected() {
        let bad = [
            "",
            "-a",
            "a-",
            "Upper",
            "a.b",
            "a b",
            "a\"}",
            r#"x"} or vector(1) #"#,
            "mcp.activity.>",
            "a*",
            "a\\b",
            "ünï",
            &"x".repeat(64),
        ];
        for id in bad {
            let err = ServerId::parse(id).expect_err(id);
            assert!(err.to_string().contains("allowed:"), "{err}");
        }
    }
}
