//! Physical lines to logical lines: parser directives at the top, comments, line
//! continuations with the escape character, and heredoc bodies for RUN, COPY and ADD.

use std::collections::BTreeMap;

use super::instruction::{Heredoc, ParseError};

/// One instruction's text with continuations joined, and the heredoc bodies it opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalLine {
    /// 1-based line the instruction starts on.
    pub line: usize,
    pub text: String,
    pub heredocs: Vec<Heredoc>,
}

/// The file split into directives and logical lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitFile {
    pub directives: BTreeMap<String, String>,
    pub escape: char,
    pub lines: Vec<LogicalLine>,
}

const DIRECTIVES: &[&str] = &["syntax", "escape", "check"];

fn error(file: &str, line: usize, message: String) -> ParseError {
    ParseError {
        file: file.to_string(),
        line,
        message,
    }
}

/// `# key=value` with a known key, as (key lower-cased, value trimmed).
fn directive(line: &str) -> Option<(String, String)> {
    let body = line.trim().strip_prefix('#')?;
    let (key, value) = body.split_once('=')?;
    let key = key.trim().to_ascii_lowercase();
    if !DIRECTIVES.contains(&key.as_str()) {
        return None;
    }
    Some((key, value.trim().to_string()))
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// If `text` ends with the escape character (trailing blanks allowed), the text before it.
fn continued(text: &str, escape: char) -> Option<&str> {
    text.trim_end_matches([' ', '\t', '\r'])
        .strip_suffix(escape)
}

/// Heredoc markers (`<<EOF`, `<<-EOF`, `<<'EOF'`, `<<"EOF"`) in an instruction's text, in order:
/// (name, strip leading tabs, expand body).
pub fn heredoc_markers(text: &str) -> Vec<(String, bool, bool)> {
    let chars: Vec<char> = text.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    let mut quote: Option<char> = None;
    while i + 1 < chars.len() {
        // `<<` inside quotes is text, not a heredoc (`RUN echo "a<<b"`).
        match (quote, chars[i]) {
            (Some(q), c) if c == q => quote = None,
            (None, c @ ('\'' | '"')) => quote = Some(c),
            _ => {}
        }
        if quote.is_some() {
            i += 1;
            continue;
        }
        let starts = chars[i] == '<'
            && chars[i + 1] == '<'
            && (i == 0 || chars[i - 1] != '<')
            && chars.get(i + 2) != Some(&'<');
        if !starts {
            i += 1;
            continue;
        }
        let mut j = i + 2;
        let strip = chars.get(j) == Some(&'-');
        if strip {
            j += 1;
        }
        let quote = match chars.get(j) {
            Some(&q) if q == '\'' || q == '"' => {
                j += 1;
                Some(q)
            }
            _ => None,
        };
        let start = j;
        while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
            j += 1;
        }
        let name: String = chars[start..j].iter().collect();
        let closed = match quote {
            Some(q) if chars.get(j) == Some(&q) => {
                j += 1;
                true
            }
            Some(_) => false,
            None => true,
        };
        if !name.is_empty() && closed {
            found.push((name, strip, quote.is_none()));
        }
        i = j.max(i + 2);
    }
    found
}

fn takes_heredocs(text: &str) -> bool {
    let keyword = text.split_whitespace().next().unwrap_or("");
    ["RUN", "COPY", "ADD"]
        .iter()
        .any(|k| k.eq_ignore_ascii_case(keyword))
}

/// Split a Dockerfile's text; `file` names it in errors.
pub fn split(text: &str, file: &str) -> Result<SplitFile, ParseError> {
    let physical: Vec<&str> = text.lines().collect();
    let mut directives = BTreeMap::new();
    let mut i = 0;
    while i < physical.len() {
        let Some((key, value)) = directive(physical[i]) else {
            break;
        };
        if directives.insert(key.clone(), value).is_some() {
            return Err(error(file, i + 1, format!("directive {key:?} given twice")));
        }
        i += 1;
    }
    let escape = match directives.get("escape").map(String::as_str) {
        None | Some("\\") => '\\',
        Some("`") => '`',
        Some(other) => {
            return Err(error(
                file,
                1,
                format!("invalid escape directive {other:?}: must be \\ or `"),
            ))
        }
    };

    let mut lines = Vec::new();
    while i < physical.len() {
        let first = physical[i];
        if first.trim().is_empty() || is_comment(first) {
            i += 1;
            continue;
        }
        let start = i + 1;
        let mut text = String::new();
        let mut current = first;
        i += 1;
        loop {
            match continued(current, escape) {
                Some(head) => {
                    text.push_str(head);
                    // Comment and blank lines inside a continuation are dropped, as docker does.
                    while i < physical.len()
                        && (physical[i].trim().is_empty() || is_comment(physical[i]))
                    {
                        i += 1;
                    }
                    if i >= physical.len() {
                        break;
                    }
                    current = physical[i];
                    i += 1;
                }
                None => {
                    text.push_str(current);
                    break;
                }
            }
        }
        let mut heredocs = Vec::new();
        if takes_heredocs(&text) {
            for (name, strip, expand) in heredoc_markers(&text) {
                let mut body = String::new();
                loop {
                    let Some(raw) = physical.get(i) else {
                        return Err(error(
                            file,
                            start,
                            format!("heredoc <<{name} is not terminated"),
                        ));
                    };
                    i += 1;
                    let line = if strip {
                        raw.trim_start_matches('\t')
                    } else {
                        raw
                    };
                    if line.trim_end_matches('\r') == name {
                        break;
                    }
                    body.push_str(line);
                    body.push('\n');
                }
                heredocs.push(Heredoc { name, body, expand });
            }
        }
        lines.push(LogicalLine {
            line: start,
            text: text.trim().to_string(),
            heredocs,
        });
    }
    Ok(SplitFile {
        directives,
        escape,
        lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(src: &str) -> Vec<(usize, String)> {
        split(src, "Dockerfile")
            .unwrap()
            .lines
            .into_iter()
            .map(|l| (l.line, l.text))
            .collect()
    }

    #[test]
    fn directives_only_at_the_top() {
        let f = split(
            "# syntax=docker/dockerfile:1\n# escape=`\nFROM a\n# escape=\\\n",
            "D",
        )
        .unwrap();
        assert_eq!(f.directives["syntax"], "docker/dockerfile:1");
        assert_eq!(f.escape, '`');
        assert_eq!(f.lines.len(), 1);
    }

    #[test]
    fn directive_after_comment_is_a_comment() {
        let f = split("# hello\n# escape=`\nFROM a\n", "D").unwrap();
        assert_eq!(f.escape, '\\');
        assert!(f.directives.is_empty());
    }

    #[test]
    fn bad_escape_and_duplicate_directive_fail() {
        assert!(split("# escape=x\nFROM a\n", "D").is_err());
        let e = split("# syntax=a\n# syntax=b\nFROM a\n", "D").unwrap_err();
        assert_eq!(e.line, 2);
    }

    #[test]
    fn continuations_join_and_keep_first_line() {
        let got = texts("FROM a\n\nRUN echo a \\\n  # comment\n\n  b\nCMD x\n");
        assert_eq!(
            got,
            vec![
                (1, "FROM a".to_string()),
                (3, "RUN echo a   b".to_string()),
                (7, "CMD x".to_string())
            ]
        );
    }

    #[test]
    fn backtick_escape_continues_and_backslash_does_not() {
        let got = texts("# escape=`\nFROM a\nRUN dir c:\\ `\n  /b\nCOPY x\\\n");
        assert_eq!(got[1], (3, "RUN dir c:\\   /b".to_string()));
        assert_eq!(got[2], (5, "COPY x\\".to_string()));
    }

    #[test]
    fn heredocs_read_bodies() {
        let f = split(
            "FROM a\nRUN <<EOF\necho hi\nEOF\nRUN <<-'END' cat\n\tx $y\n\tEND\nCMD z\n",
            "D",
        )
        .unwrap();
        assert_eq!(f.lines.len(), 4);
        assert_eq!(f.lines[1].heredocs[0].body, "echo hi\n");
        assert!(f.lines[1].heredocs[0].expand);
        let h = &f.lines[2].heredocs[0];
        assert_eq!(
            (h.name.as_str(), h.body.as_str(), h.expand),
            ("END", "x $y\n", false)
        );
        assert_eq!(f.lines[3].line, 8);
    }

    #[test]
    fn two_heredocs_in_one_copy() {
        let f = split("COPY <<A <<\"B\" /dst/\na1\nA\nb1\nB\n", "D").unwrap();
        let names: Vec<_> = f.lines[0]
            .heredocs
            .iter()
            .map(|h| h.name.as_str())
            .collect();
        assert_eq!(names, ["A", "B"]);
    }

    #[test]
    fn unterminated_heredoc_names_its_line() {
        let e = split("FROM a\nRUN <<EOF\necho\n", "ctx/Dockerfile").unwrap_err();
        assert_eq!(
            e.to_string(),
            "ctx/Dockerfile:2: heredoc <<EOF is not terminated"
        );
    }

    #[test]
    fn markers_ignore_triple_angle() {
        assert!(heredoc_markers("RUN cat <<<word").is_empty());
        assert_eq!(heredoc_markers("RUN cat<<X")[0].0, "X");
        assert!(heredoc_markers("RUN echo \"a<<b\" 'c<<d'").is_empty());
        assert_eq!(heredoc_markers("RUN echo \"x\" <<E")[0].0, "E");
    }
}
