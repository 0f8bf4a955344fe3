//! Byte ranges: the `Range` request header on blob GETs and `Content-Range` on upload chunks.

/// An inclusive byte range `start..=end`.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// Last byte (inclusive).
    pub end: u64,
}

impl ByteRange {
    /// Number of bytes covered (never zero: ranges are inclusive).
    pub fn byte_count(&self) -> u64 {
        (self.end - self.start).saturating_add(1)
    }
}

/// Outcome of resolving a `Range` header against a blob size.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// No (usable) header: send everything.
    Full,
    /// One satisfiable range.
    Partial(ByteRange),
    /// A syntactically valid range outside the blob.
    Unsatisfiable,
}

/// Resolve `bytes=a-b`, `bytes=a-` or `bytes=-n` against `size`. Multiple ranges or
/// malformed headers are ignored (the whole blob is sent), as RFC 9110 permits.
pub fn parse_range(header: Option<&str>, size: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeRequest::Full;
    };
    let range = if a.is_empty() {
        let Ok(n) = b.parse::<u64>() else {
            return RangeRequest::Full;
        };
        if n == 0 || size == 0 {
            return RangeRequest::Unsatisfiable;
        }
        ByteRange {
            start: size.saturating_sub(n),
            end: size - 1,
        }
    } else {
        let Ok(start) = a.parse::<u64>() else {
            return RangeRequest::Full;
        };
        let end = if b.is_empty() {
            size.saturating_sub(1)
        } else {
            match b.parse::<u64>() {
                Ok(e) if e >= start => e.min(size.saturating_sub(1)),
                _ => return RangeRequest::Full,
            }
        };
        if start >= size {
            return RangeRequest::Unsatisfiable;
        }
        ByteRange { start, end }
    };
    RangeRequest::Partial(range)
}

/// Parse an upload chunk's `Content-Range`: `a-b`, also tolerating `bytes a-b/total`.
pub fn parse_content_range(header: &str) -> Option<ByteRange> {
    let h = header.trim();
    let h = h.strip_prefix("bytes ").unwrap_or(h);
    let h = h.split('/').next()?;
    let (a, b) = h.split_once('-')?;
    let start = a.trim().parse().ok()?;
    let end = b.trim().parse().ok()?;
    (end >= start).then_some(ByteRange { start, end })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_forms() {
        let r = |s, e| RangeRequest::Partial(ByteRange { start: s, end: e });
        assert_eq!(parse_range(None, 10), RangeRequest::Full);
        assert_eq!(parse_range(Some("bytes=0-4"), 10), r(0, 4));
        assert_eq!(parse_range(Some("bytes=5-"), 10), r(5, 9));
        assert_eq!(parse_range(Some("bytes=-3"), 10), r(7, 9));
        assert_eq!(parse_range(Some("bytes=2-100"), 10), r(2, 9));
        assert_eq!(
            parse_range(Some("bytes=10-"), 10),
            RangeRequest::Unsatisfiable
        );
        assert_eq!(parse_range(Some("bytes=4-2"), 10), RangeRequest::Full);
        assert_eq!(parse_range(Some("bytes=0-1,3-4"), 10), RangeRequest::Full);
    }

    #[test]
    fn content_range_forms() {
        assert_eq!(
            parse_content_range("0-9"),
            Some(ByteRange { start: 0, end: 9 })
        );
        assert_eq!(
            parse_content_range("bytes 10-19/*"),
            Some(ByteRange { start: 10, end: 19 })
        );
        assert_eq!(parse_content_range("9-0"), None);
        assert_eq!(parse_content_range("x"), None);
        let huge = parse_content_range(&format!("0-{}", u64::MAX)).unwrap();
        assert_eq!(huge.byte_count(), u64::MAX);
    }
}
