//! `.dockerignore`: which context paths a build leaves out, with docker's pattern semantics.
//!
//! Lines are trimmed; blank lines and `#` comments are skipped; `!` marks an exception; each
//! pattern is cleaned like Go's `filepath.Clean` (so `./a` is `a`, `a//b/../c` is `a/c`) and a
//! leading `/` dropped. Patterns use Go's `filepath.Match` syntax (`*` and `?` stop at `/`,
//! `[a-z]`/`[^a-z]` classes, `\` escapes) plus `**`, which matches any number of directories
//! (`**/` may match none). A path is excluded when the last pattern matching it or one of its
//! parent directories is not an exception, so excluding a directory excludes its subtree unless
//! a later `!` pattern brings a path back. (The builder still sends the Dockerfile and
//! `.dockerignore` itself, as docker does; that is its job, not this module's.)

/// A bad pattern: `FILE:LINE: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct IgnoreError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    /// `?`: one character other than `/`.
    One,
    /// `*`: any run without `/`.
    Star,
    /// `**` not followed by `/`: anything at all.
    Any,
    /// `**/`: zero or more whole directories.
    Dirs,
    /// `[...]`: (negated, ranges).
    Class(bool, Vec<(char, char)>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    text: String,
    exception: bool,
    tokens: Vec<Token>,
}

/// The parsed `.dockerignore`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dockerignore {
    patterns: Vec<Pattern>,
}

/// Go's `filepath.Clean` for slash paths.
fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

fn class(chars: &[char], mut i: usize) -> Result<(Token, usize), String> {
    let negated = matches!(chars.get(i), Some('^') | Some('!'));
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let mut c = *chars.get(i).ok_or("unclosed [ in pattern")?;
        if c == ']' && !first {
            return Ok((Token::Class(negated, ranges), i + 1));
        }
        first = false;
        if c == '\\' {
            i += 1;
            c = *chars.get(i).ok_or("pattern ends in an escape")?;
        }
        i += 1;
        let mut high = c;
        if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|n| *n != ']') {
            i += 1;
            high = chars[i];
            if high == '\\' {
                i += 1;
                high = *chars.get(i).ok_or("pattern ends in an escape")?;
            }
            i += 1;
            if high < c {
                return Err(format!("bad range {c}-{high} in pattern"));
            }
        }
        ranges.push((c, high));
    }
}

fn compile(pattern: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                    tokens.push(Token::Dirs);
                } else {
                    tokens.push(Token::Any);
                }
            }
            '*' => tokens.push(Token::Star),
            '?' => tokens.push(Token::One),
            '[' => {
                let (token, next) = class(&chars, i)?;
                tokens.push(token);
                i = next;
            }
            '\\' => {
                let escaped = *chars.get(i).ok_or("pattern ends in an escape")?;
                i += 1;
                tokens.push(Token::Literal(escaped));
            }
            other => tokens.push(Token::Literal(other)),
        }
    }
    Ok(tokens)
}

fn matches(tokens: &[Token], s: &[char]) -> bool {
    let Some((token, rest)) = tokens.split_first() else {
        return s.is_empty();
    };
    match token {
        Token::Literal(c) => s.first() == Some(c) && matches(rest, &s[1..]),
        Token::One => s.first().is_some_and(|c| *c != '/') && matches(rest, &s[1..]),
        Token::Class(negated, ranges) => match s.first() {
            Some(&c) if c != '/' => {
                let inside = ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c));
                inside != *negated && matches(rest, &s[1..])
            }
            _ => false,
        },
        Token::Star => {
            for k in 0..=s.len() {
                if matches(rest, &s[k..]) {
                    return true;
                }
                if s.get(k) == Some(&'/') {
                    break;
                }
            }
            false
        }
        Token::Any => (0..=s.len()).any(|k| matches(rest, &s[k..])),
        Token::Dirs => {
            matches(rest, s)
                || s.iter()
                    .enumerate()
                    .any(|(k, c)| *c == '/' && matches(rest, &s[k + 1..]))
        }
    }
}

/// Go's `filepath.Match` of one path component (no `/` in `name`): COPY/ADD source globs.
/// `Err` names what is wrong with the pattern.
pub(crate) fn match_component(pattern: &str, name: &str) -> Result<bool, String> {
    let tokens = compile(pattern)?;
    let chars: Vec<char> = name.chars().collect();
    Ok(matches(&tokens, &chars))
}

/// Whether a path component has glob syntax (Go's `hasMeta`: `*`, `?`, `[`, `\`).
pub(crate) fn has_glob_meta(component: &str) -> bool {
    component.contains(['*', '?', '[', '\\'])
}

impl Dockerignore {
    /// Parse a `.dockerignore`'s text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Self, IgnoreError> {
        let mut patterns = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exception, body) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            if body.is_empty() {
                continue;
            }
            let mut cleaned = clean(body);
            if cleaned.len() > 1 {
                if let Some(stripped) = cleaned.strip_prefix('/') {
                    cleaned = stripped.to_string();
                }
            }
            let tokens = compile(&cleaned).map_err(|message| IgnoreError {
                file: file.to_string(),
                line: index + 1,
                message: format!("{message}: {raw:?}"),
            })?;
            patterns.push(Pattern {
                text: cleaned,
                exception,
                tokens,
            });
        }
        Ok(Self { patterns })
    }

    /// True when the context-relative slash path (`src/main.rs`) is left out of the build.
    pub fn is_excluded(&self, path: &str) -> bool {
        let path = clean(path);
        let path = path.trim_start_matches('/');
        let chars: Vec<char> = path.chars().collect();
        // The path itself and each parent directory, shortest first.
        let mut candidates: Vec<&[char]> = chars
            .iter()
            .enumerate()
            .filter(|(_, c)| **c == '/')
            .map(|(k, _)| &chars[..k])
            .collect();
        candidates.push(&chars);
        let mut excluded = false;
        for pattern in &self.patterns {
            if candidates.iter().any(|c| matches(&pattern.tokens, c)) {
                excluded = !pattern.exception;
            }
        }
        excluded
    }

    /// True when some `!` pattern could bring back paths inside an excluded directory, so a
    /// walker must still descend into it.
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exception)
    }

    /// The cleaned patterns, `!` included, in file order (for cache keys and messages).
    pub fn patterns(&self) -> Vec<String> {
        self.patterns
            .iter()
            .map(|p| {
                if p.exception {
                    format!("!{}", p.text)
                } else {
                    p.text.clone()
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ignore(text: &str) -> Dockerignore {
        Dockerignore::parse(text, ".dockerignore").unwrap()
    }

    fn check(text: &str, excluded: &[&str], kept: &[&str]) {
        let d = ignore(text);
        for p in excluded {
            assert!(d.is_excluded(p), "{p:?} should be excluded by {text:?}");
        }
        for p in kept {
            assert!(!d.is_excluded(p), "{p:?} should be kept by {text:?}");
        }
    }

    #[test]
    fn clean_like_go() {
        assert_eq!(clean("./a"), "a");
        assert_eq!(clean("a//b/../c/"), "a/c");
        assert_eq!(clean("/../x"), "/x");
        assert_eq!(clean("../x"), "../x");
        assert_eq!(clean("."), ".");
        assert_eq!(clean("/"), "/");
    }

    #[test]
    fn comments_blank_lines_and_normalisation() {
        let d = ignore("# comment\n\n  ./build  \n/dist\n! /dist/keep\n");
        assert_eq!(d.patterns(), ["build", "dist", "!dist/keep"]);
        assert!(d.has_exceptions());
        assert!(!ignore("a\n").has_exceptions());
    }

    #[test]
    fn docker_documented_examples() {
        // From docker's .dockerignore documentation.
        check(
            "*/temp*\n*/*/temp*\ntemp?\n",
            &[
                "somedir/temporary.txt",
                "somedir/temp",
                "a/b/temp.txt",
                "temp1",
                "tempa/x",
            ],
            &["temporary.txt", "temp", "temp12", "a/b/c/temp.txt"],
        );
        check(
            "**/*.go",
            &["main.go", "a/b/c.go", "a/x.go/y"],
            &["main.gox", "go"],
        );
        check(
            "*.md\n!README*.md\n",
            &["CHANGES.md", "x.md/y"],
            &["README.md", "README-secret.md", "docs/a.md"],
        );
        check(
            "*.md\n!README*.md\nREADME-secret.md\n",
            &["README-secret.md", "CHANGES.md"],
            &["README.md"],
        );
        check(
            "*.md\nREADME-secret.md\n!README*.md\n",
            &["CHANGES.md"],
            &["README.md", "README-secret.md"],
        );
    }

    #[test]
    fn directories_exclude_their_subtree() {
        check(
            "node_modules\n.git\n",
            &["node_modules", "node_modules/a/b.js", ".git/HEAD"],
            &["src/node_modules/x", "node_modules_old", ".gitignore"],
        );
        check("a/b", &["a/b", "a/b/c/d"], &["a", "a/bc", "x/a/b"]);
    }

    #[test]
    fn exceptions_reinclude_inside_excluded_dirs() {
        check(
            "docs\n!docs/keep.md\n",
            &["docs", "docs/other.md"],
            &["docs/keep.md", "src"],
        );
        // A later pattern wins over an earlier exception.
        check(
            "*\n!src\nsrc/gen\n",
            &["a", "src/gen/x.rs"],
            &["src", "src/main.rs"],
        );
    }

    #[test]
    fn double_star_forms() {
        check("**", &["a", "a/b/c"], &[]);
        check(
            "a/**/z",
            &["a/z", "a/b/z", "a/b/c/z", "a/b/c/z/w"],
            &["az", "b/a/z", "a/zz"],
        );
        check("a/**", &["a/b", "a/b/c"], &["ab"]);
        check(
            "**/build/",
            &["build", "x/build", "x/y/build/out"],
            &["builder", "x/rebuild"],
        );
        check("a**b", &["ab", "axb", "a/x/b"], &["a/x/bc"]);
    }

    #[test]
    fn star_question_class_and_escape() {
        check("*.log", &["x.log", "x.log/inner"], &["d/x.log", "x.logs"]);
        check(
            "file?.txt",
            &["file1.txt"],
            &["file.txt", "file12.txt", "file/.txt"],
        );
        check("[a-c]*.txt", &["a.txt", "b1.txt"], &["d.txt", "A.txt"]);
        check("[^a-c]*.txt", &["d.txt"], &["a.txt"]);
        check("[!x]", &["y"], &["x"]);
        check("\\*.txt", &["*.txt"], &["a.txt"]);
        check("a\\?", &["a?"], &["ab"]);
        check("[]a]", &["]", "a"], &["b"]);
        check("[a-]", &["a", "-"], &["b"]);
    }

    #[test]
    fn leading_slash_and_dot_in_paths() {
        check(
            "/secret",
            &["secret", "./secret", "secret/key"],
            &["x/secret"],
        );
        check(".", &[], &["a"]);
    }

    #[test]
    fn bad_patterns_name_file_and_line() {
        let e = Dockerignore::parse("ok\n\n[abc\n", "ctx/.dockerignore").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e
            .to_string()
            .starts_with("ctx/.dockerignore:3: unclosed [ in pattern"));
        assert!(Dockerignore::parse("[z-a]\n", "f").is_err());
        assert!(Dockerignore::parse("abc\\\n", "f").is_err());
    }

    #[test]
    fn empty_ignores_nothing() {
        check("", &[], &["a", "a/b"]);
        check("!\n#x\n", &[], &["a"]);
    }
}
