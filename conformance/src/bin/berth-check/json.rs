//! A minimal JSON value and serializer, so the checker needs nothing beyond std and libc.

use std::fmt::Write;

/// A JSON value as the checker emits it.
pub enum Json {
    Null,
    Bool(bool),
    Int(i128),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    /// Serializes the value on one line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.write_to(&mut out);
        out
    }

    fn write_to(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Json::Str(s) => write_str(s, out),
            Json::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_to(out);
                }
                out.push(']');
            }
            Json::Obj(fields) => {
                out.push('{');
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_str(key, out);
                    out.push(':');
                    value.write_to(out);
                }
                out.push('}');
            }
        }
    }
}

fn write_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Shorthand for a string value.
pub fn s(v: impl Into<String>) -> Json {
    Json::Str(v.into())
}

/// A string value, or `null` for an error.
pub fn s_or_null<E>(v: Result<String, E>) -> Json {
    v.map(Json::Str).unwrap_or(Json::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_strings_and_nests() {
        let v = Json::Obj(vec![
            ("a\"b".into(), Json::Arr(vec![Json::Int(-3), Json::Null])),
            ("c".into(), s("x\ny\u{1}")),
            ("d".into(), Json::Bool(true)),
        ]);
        assert_eq!(
            v.render(),
            r#"{"a\"b":[-3,null],"c":"x\ny\u0001","d":true}"#
        );
    }
}
