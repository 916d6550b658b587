//! A request's query parameters, read the same way by every endpoint: each
//! one known to the endpoint and given at most once, else a 400 naming it.

use std::collections::HashMap;

/// The parameters of `raw` (the URL's query, percent-decoded), each one of
/// `known`; the error names an unknown or repeated one and what is allowed.
pub fn parse(raw: Option<&str>, known: &[&str]) -> Result<HashMap<String, String>, String> {
    let mut params = HashMap::new();
    for (name, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        let shown: String = name.chars().take(40).collect();
        if !known.contains(&name.as_ref()) {
            return Err(format!(
                "unknown parameter {shown:?} (allowed: {})",
                allowed(known)
            ));
        }
        if params
            .insert(name.into_owned(), value.into_owned())
            .is_some()
        {
            return Err(format!("{shown}: given more than once (once at most)"));
        }
    }
    Ok(params)
}

fn allowed(known: &[&str]) -> String {
    if known.is_empty() {
        "none".to_owned()
    } else {
        known.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_known_parameter_once_and_nothing_else() {
        let known = ["limit", "policy"];
        let p = parse(Some("limit=5&policy=a%20b"), &known).expect("ok");
        assert_eq!(p.get("policy").map(String::as_str), Some("a b"));
        assert_eq!(parse(None, &known).expect("ok").len(), 0);
        let twice = parse(Some("limit=1&limit=2"), &known).expect_err("twice");
        assert!(twice.starts_with("limit: given more than once"), "{twice}");
        let unknown = parse(Some("bogus=1"), &known).expect_err("unknown");
        assert_eq!(
            unknown,
            "unknown parameter \"bogus\" (allowed: limit, policy)"
        );
        let none = parse(Some("x"), &[]).expect_err("takes none");
        assert!(none.ends_with("(allowed: none)"), "{none}");
    }
}
