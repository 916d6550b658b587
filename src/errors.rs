//! Errors as people read them: an error and each cause under it on one
//! line, for logs and the command line.

/// `e` and each cause under it (`failed to send request: ... connection
/// refused`), a cause whose text its parent's already ends with left out
/// (some errors quote their cause and also expose it as their source).
pub fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let part = c.to_string();
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::with_causes;

    #[derive(Debug, thiserror::Error)]
    #[error("{text}")]
    struct Layer {
        text: &'static str,
        #[source]
        under: Option<std::io::Error>,
    }

    #[test]
    fn an_error_reads_with_its_causes_each_once() {
        let refused = || std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e = Layer {
            text: "failed to send request",
            under: Some(refused()),
        };
        assert_eq!(with_causes(&e), "failed to send request: refused");
        let quoted = Layer {
            text: "failed: refused",
            under: Some(refused()),
        };
        assert_eq!(with_causes(&quoted), "failed: refused");
        let alone = Layer {
            text: "bad JSON",
            under: None,
        };
        assert_eq!(with_causes(&alone), "bad JSON");
    }
}
