//! Repository names and tags validated against the distribution-spec grammar.
//!
//! A name is path components of `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` joined by `/`; a tag is
//! `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`. Both are then safe as path components: no component can
//! be empty, `.`/`..`, or start with `_` (which the storage layout reserves).

/// Maximum length of a repository name we accept.
pub const MAX_NAME_LEN: usize = 255;

/// Whether `name` is a valid repository name.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME_LEN && name.split('/').all(is_valid_component)
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn is_valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let mut i = 0;
    // First alphanumeric run.
    if b.is_empty() || !is_alnum(b[0]) {
        return false;
    }
    while i < b.len() && is_alnum(b[i]) {
        i += 1;
    }
    while i < b.len() {
        // Separator: `.`, `_`, `__`, or one or more `-`.
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        if i >= b.len() || !is_alnum(b[i]) {
            return false;
        }
        while i < b.len() && is_alnum(b[i]) {
            i += 1;
        }
    }
    true
}

/// Whether `tag` is a valid tag.
pub fn is_valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_spec_names() {
        for n in [
            "a",
            "library/ubuntu",
            "a.b_c__d---e/f0",
            "test/img",
            "x/y/z",
        ] {
            assert!(is_valid_name(n), "{n}");
        }
    }

    #[test]
    fn rejects_bad_names() {
        for n in [
            "",
            "A",
            "a/",
            "/a",
            "a//b",
            "../a",
            "a/../b",
            "a/..",
            ".a",
            "a.",
            "a___b",
            "_a",
            "a/_layers",
            "a b",
            "a..b",
            "a-",
            "a_-b",
        ] {
            assert!(!is_valid_name(n), "{n}");
        }
        assert!(!is_valid_name(&"a".repeat(256)));
    }

    #[test]
    fn validates_tags() {
        assert!(is_valid_tag("latest"));
        assert!(is_valid_tag("_v1.2-rc.3"));
        assert!(is_valid_tag(&"a".repeat(128)));
        assert!(!is_valid_tag(&"a".repeat(129)));
        assert!(!is_valid_tag(".hidden"));
        assert!(!is_valid_tag("-x"));
        assert!(!is_valid_tag("a/b"));
        assert!(!is_valid_tag(""));
    }
}
