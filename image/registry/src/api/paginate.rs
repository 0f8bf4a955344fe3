//! `n`/`last` pagination for tag and catalog listings, with the RFC 8288 `Link` header.

use crate::error::{ApiError, Code};
use std::collections::HashMap;

/// One page of a lexically sorted list.
#[derive(Debug, PartialEq, Eq)]
pub struct Page {
    /// Items on this page.
    pub items: Vec<String>,
    /// `Link` header value when more items follow.
    pub link: Option<String>,
}

/// Take the page selected by the `n` and `last` query parameters from `sorted`; `base` is the
/// path used in the `Link` header.
pub fn paginate(
    sorted: Vec<String>,
    query: &HashMap<String, String>,
    base: &str,
) -> Result<Page, ApiError> {
    let n = match query.get("n") {
        Some(v) => Some(v.parse::<usize>().map_err(|_| {
            ApiError::new(
                Code::PaginationNumberInvalid,
                "n must be a non-negative integer",
            )
        })?),
        None => None,
    };
    let after: Vec<String> = match query.get("last") {
        Some(last) => sorted.into_iter().filter(|t| t > last).collect(),
        None => sorted,
    };
    match n {
        Some(n) if n < after.len() => {
            let items: Vec<String> = after.into_iter().take(n).collect();
            let link = items.last().map(|last| {
                format!(
                    "<{base}?n={n}&last={}>; rel=\"next\"",
                    percent_encode_query(last)
                )
            });
            Ok(Page { items, link })
        }
        _ => Ok(Page {
            items: after,
            link: None,
        }),
    }
}

/// Escape the characters that cannot appear raw in a query value (names and tags only ever
/// hold `[A-Za-z0-9._/-]`, but be safe).
fn percent_encode_query(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn pages_with_link() {
        let all: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let p = paginate(all.clone(), &q(&[("n", "2")]), "/v2/r/tags/list").unwrap();
        assert_eq!(p.items, vec!["a", "b"]);
        assert_eq!(
            p.link.as_deref(),
            Some("</v2/r/tags/list?n=2&last=b>; rel=\"next\"")
        );
        let p = paginate(all.clone(), &q(&[("n", "2"), ("last", "b")]), "/x").unwrap();
        assert_eq!(p.items, vec!["c"]);
        assert_eq!(p.link, None);
        let p = paginate(all.clone(), &q(&[("n", "0")]), "/x").unwrap();
        assert!(p.items.is_empty());
        assert!(paginate(all, &q(&[("n", "-1")]), "/x").is_err());
    }
}
