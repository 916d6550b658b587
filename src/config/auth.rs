//! `server.http_auth`: the bearer token that guards the HTTP API.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where the HTTP API's bearer token comes from (never inline in the file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum HttpAuth {
    /// A file holding the token (a mounted Secret).
    BearerTokenFile(PathBuf),
    /// An environment variable holding the token.
    BearerTokenEnv(String),
}

/// Shortest bearer token accepted.
pub const MIN_TOKEN_LEN: usize = 16;

/// Longest bearer token accepted.
pub const MAX_TOKEN_LEN: usize = 4096;

impl HttpAuth {
    /// Reads the token (trailing white space trimmed); the error names the
    /// source and what is wrong, never the token.
    pub fn read_token(&self) -> Result<String, String> {
        let (raw, from) = match self {
            Self::BearerTokenFile(path) => (
                std::fs::read_to_string(path)
                    .map_err(|e| format!("server.http_auth: reading {}: {e}", path.display()))?,
                format!("file {}", path.display()),
            ),
            Self::BearerTokenEnv(var) => (
                std::env::var(var).map_err(|_| {
                    format!("server.http_auth: environment variable {var} is not set")
                })?,
                format!("environment variable {var}"),
            ),
        };
        let token = raw.trim().to_owned();
        let ok = (MIN_TOKEN_LEN..=MAX_TOKEN_LEN).contains(&token.len())
            && token.bytes().all(|b| b.is_ascii_graphic());
        if !ok {
            return Err(format!(
                "server.http_auth: the token in {from} must be {MIN_TOKEN_LEN} to {MAX_TOKEN_LEN} printable characters without spaces"
            ));
        }
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_read_trimmed_and_checked_without_being_shown() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("token");
        std::fs::write(&file, "s3cret-token-0123456789\n").expect("write");
        let auth = HttpAuth::BearerTokenFile(file.clone());
        assert_eq!(auth.read_token().as_deref(), Ok("s3cret-token-0123456789"));
        std::fs::write(&file, "short").expect("write");
        let err = auth.read_token().expect_err("too short");
        assert!(
            err.contains("16 to 4096") && !err.contains("short"),
            "{err}"
        );
        let err = HttpAuth::BearerTokenEnv("MCP_TEST_NO_SUCH_VAR_42".into())
            .read_token()
            .expect_err("unset");
        assert!(err.contains("MCP_TEST_NO_SUCH_VAR_42"), "{err}");
    }
}
