//! The live view's page frame and text helpers.

/// `body` in the page frame, titled `title` (escaped here).
pub fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width, initial-scale=1\">\
         <title>{} · mcp-autoscaler</title><style>{STYLE}</style></head>\
         <body><header><h1><a href=\"/\">mcp-autoscaler</a></h1></header><main>{body}</main></body></html>",
        escape(title)
    )
}

const STYLE: &str = "\
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d2430;background:#f6f7f9}\
header{background:#1d2430;padding:8px 20px}header h1{font-size:18px;margin:0}\
header a{color:#fff;text-decoration:none}main{padding:12px 20px}\
table{border-collapse:collapse;background:#fff;margin:8px 0}\
th,td{padding:4px 10px;border-bottom:1px solid #e3e6ea;text-align:left}\
th{background:#eef0f3}tr.active td:nth-child(4){color:#0a7d32;font-weight:600}\
tr.idle td:nth-child(4){color:#777}.counts b{font-size:16px}.muted{color:#777}\
.data-stale{color:#b36b00}.data-unavailable{color:#b00020;font-weight:600}\
.error{color:#b00020}.filters{margin:8px 0}figure{margin:8px 0;background:#fff;display:inline-block}\
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px}dt{color:#555}dd{margin:0}\
section{display:inline-block;vertical-align:top;margin-right:24px}";

/// `s` safe inside HTML text and double-quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `yes`, `no`, or `unknown` (data unavailable).
pub fn yes_no(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "yes",
        Some(false) => "no",
        None => "unknown",
    }
}

/// A count, or a dash when unknown.
pub fn opt(v: Option<u32>) -> String {
    v.map_or_else(|| "–".into(), |v| v.to_string())
}

/// Seconds, rounded for reading.
pub fn secs(s: f64) -> String {
    if s < 10.0 {
        format!("{s:.1} s")
    } else if s < 600.0 {
        format!("{s:.0} s")
    } else {
        format!("{:.0} min", s / 60.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_text_is_escaped() {
        assert_eq!(
            escape(r#"<script>"a"&'b'</script>"#),
            "&lt;script&gt;&quot;a&quot;&amp;&#39;b&#39;&lt;/script&gt;"
        );
        assert!(layout("<x>", "").contains("<title>&lt;x&gt; · mcp-autoscaler</title>"));
    }

    #[test]
    fn ages_read_naturally() {
        assert_eq!(secs(2.34), "2.3 s");
        assert_eq!(secs(42.4), "42 s");
        assert_eq!(secs(1800.0), "30 min");
        assert_eq!(opt(None), "–");
    }
}
