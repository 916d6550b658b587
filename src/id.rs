//! Validated identities: a hosted MCP server is **(namespace, name)**.
//!
//! Tenants on one platform reuse names (two tenants' `github` servers are two
//! servers), so every part of the scaler keys servers by [`ServerKey`]. Both
//! parts travel into PromQL label matchers, NATS subjects and Kubernetes
//! names, so they are checked once at the edge and carried as validated types
//! afterwards. The rule is the Kubernetes DNS label (RFC 1123), which is also
//! the rule for namespace names: 1 to 63 characters of `a-z`, `0-9` and `-`,
//! starting and ending with a letter or digit. That excludes quotes,
//! backslashes, `{}`, `.`, `*`, `>` and white space, so an id can never break
//! out of a PromQL string or span NATS subject tokens.

use std::fmt;

/// Longest id allowed (a Kubernetes DNS label).
pub const MAX_ID_LEN: usize = 63;

/// Longest Kubernetes object name (a DNS subdomain).
pub const MAX_OBJECT_NAME_LEN: usize = 253;

/// Whether `name` can be a Kubernetes object name (a ScaledObject's, a
/// Lease's, a Deployment's): a DNS-1123 subdomain as Kubernetes checks it,
/// at most 253 characters of parts joined by `.`, each part 1 or more of
/// `a-z 0-9 -`, starting and ending with a letter or digit (Kubernetes
/// sets no length on a part).
pub fn is_object_name(name: &str) -> bool {
    (1..=MAX_OBJECT_NAME_LEN).contains(&name.len())
        && name.split('.').all(|part| label_shape(part).is_ok())
}

/// The object-name rule, for error messages.
pub const OBJECT_NAME_RULE: &str = "1-253 characters, parts of a-z, 0-9 and '-' (each starting and ending with a letter or digit) joined by '.'";

/// Whether `host` is a DNS host name: an object name whose labels are at
/// most 63 characters each.
pub fn is_dns_name(host: &str) -> bool {
    is_object_name(host) && host.split('.').all(|label| label.len() <= MAX_ID_LEN)
}

/// An id that failed validation, with the reason a user can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid {what} {shown:?}: {reason} (allowed: 1-63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit)"
)]
pub struct InvalidId {
    what: &'static str,
    shown: String,
    reason: &'static str,
}

/// Checks `raw` against the DNS label rule; `what` names it in the error.
fn check_label(raw: &str, what: &'static str) -> Result<(), InvalidId> {
    let fail = |reason| InvalidId {
        what,
        shown: raw.chars().take(80).collect(),
        reason,
    };
    if raw.len() > MAX_ID_LEN {
        return Err(fail("it is longer than 63 characters"));
    }
    label_shape(raw).map_err(fail)
}

/// A DNS label's characters, whatever its length: what is wrong, if any.
fn label_shape(raw: &str) -> Result<(), &'static str> {
    if raw.is_empty() {
        return Err("it is empty");
    }
    if !raw
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err("it contains a character outside a-z, 0-9 and '-'");
    }
    if raw.starts_with('-') || raw.ends_with('-') {
        return Err("it starts or ends with '-'");
    }
    Ok(())
}

/// Declares a validated DNS-label newtype.
macro_rules! dns_label {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Validates `raw` and wraps it.
            pub fn parse(raw: &str) -> Result<Self, InvalidId> {
                check_label(raw, $what)?;
                Ok(Self(raw.to_owned()))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    };
}

dns_label!(
    /// The name of one hosted MCP server within its namespace.
    ServerId,
    "server id"
);

dns_label!(
    /// A Kubernetes namespace (a tenant, typically).
    Namespace,
    "namespace"
);

/// One hosted MCP server: its namespace and its name. Ordered by namespace,
/// then name; shown as `namespace/name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerKey {
    /// The namespace the server lives in.
    pub namespace: Namespace,
    /// The server's name within it.
    pub server: ServerId,
}

impl ServerKey {
    /// A key from validated parts.
    pub fn new(namespace: Namespace, server: ServerId) -> Self {
        Self { namespace, server }
    }

    /// Validates both parts; the error names the one that failed.
    pub fn parse(namespace: &str, server: &str) -> Result<Self, InvalidId> {
        Ok(Self::new(
            Namespace::parse(namespace)?,
            ServerId::parse(server)?,
        ))
    }
}

impl fmt::Display for ServerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.server)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_follow_kubernetes_subdomain_rule() {
        let long_part = "a".repeat(100);
        for good in ["web", "web.v2", "a-1.b", long_part.as_str(), "0abc"] {
            assert!(is_object_name(good), "{good}");
        }
        let too_long = "a".repeat(254);
        for bad in [
            "",
            "Web",
            "a..b",
            ".a",
            "a.",
            "-a",
            "a-",
            "a_b",
            too_long.as_str(),
        ] {
            assert!(!is_object_name(bad), "{bad}");
        }
    }

    #[test]
    fn dns_labels_are_accepted() {
        for ok in ["a", "weather", "tenant-42", "0abc", &"x".repeat(63)] {
            assert!(ServerId::parse(ok).is_ok(), "{ok} should be valid");
            assert!(Namespace::parse(ok).is_ok(), "{ok} should be valid");
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
            let err = Namespace::parse(id).expect_err(id);
            assert!(err.to_string().starts_with("invalid namespace"), "{err}");
        }
    }

    #[test]
    fn a_key_names_the_part_that_is_wrong_and_shows_as_namespace_slash_name() {
        let err = ServerKey::parse("Tenant", "ok").expect_err("bad namespace");
        assert!(err.to_string().starts_with("invalid namespace"), "{err}");
        let err = ServerKey::parse("ok", "a.b").expect_err("bad server");
        assert!(err.to_string().starts_with("invalid server id"), "{err}");
        let key = ServerKey::parse("tenant-a", "github").expect("valid");
        assert_eq!(key.to_string(), "tenant-a/github");
    }

    #[test]
    fn same_name_in_two_namespaces_is_two_servers() {
        let a = ServerKey::parse("tenant-a", "github").expect("valid");
        let b = ServerKey::parse("tenant-b", "github").expect("valid");
        assert_ne!(a, b);
        assert!(a < b, "ordered by namespace first");
    }
}
