//! Each logical line to an instruction: the keyword, its `--flags`, and its arguments in
//! shell, exec (JSON) or key=value form. Errors name the file and the instruction's line.

use std::collections::BTreeMap;

use super::instruction::{
    CopySource, Dockerfile, Healthcheck, Heredoc, Instruction, InstructionKind, KeyValue,
    ParseError, ShellOrExec,
};
use super::lines::split;

/// Parse a Dockerfile's text; `file` is the name errors carry (e.g. `ctx/Dockerfile`).
pub fn parse(text: &str, file: &str) -> Result<Dockerfile, ParseError> {
    let split_file = split(text, file)?;
    let escape = split_file.escape;
    let mut instructions = Vec::with_capacity(split_file.lines.len());
    for logical in split_file.lines {
        let kind =
            instruction(&logical.text, logical.heredocs, escape).map_err(|message| ParseError {
                file: file.to_string(),
                line: logical.line,
                message,
            })?;
        instructions.push(Instruction {
            line: logical.line,
            kind,
        });
    }
    Ok(Dockerfile {
        directives: split_file.directives,
        escape,
        instructions,
    })
}

/// Split on blanks outside quotes; quotes and escapes stay in the words (removed at expansion).
pub fn split_words(text: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == escape && quote != Some('\'') {
            word.push(c);
            if let Some(next) = chars.next() {
                word.push(next);
            }
            continue;
        }
        match quote {
            Some(q) if c == q => quote = None,
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                continue;
            }
            _ => {}
        }
        word.push(c);
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// `--name=value` flags as (name, value), in the order written.
type Flags = Vec<(String, String)>;

/// Leading `--name=value` flags (a bare `--name` reads as `true`), checked against `allowed`.
fn take_flags<'a>(
    mut rest: &'a str,
    keyword: &str,
    allowed: &[&str],
) -> Result<(Flags, &'a str), String> {
    let mut flags = Vec::new();
    while let Some(after) = rest.strip_prefix("--") {
        let end = after.find(char::is_whitespace).unwrap_or(after.len());
        let flag = &after[..end];
        let (name, value) = flag.split_once('=').unwrap_or((flag, "true"));
        if !allowed.contains(&name) {
            return Err(format!("unknown flag --{name} for {keyword}"));
        }
        flags.push((name.to_string(), value.to_string()));
        rest = after[end..].trim_start();
    }
    Ok((flags, rest))
}

fn single_flag(flags: &[(String, String)], name: &str) -> Result<Option<String>, String> {
    let mut values = flags.iter().filter(|(n, _)| n == name).map(|(_, v)| v);
    let first = values.next().cloned();
    if values.next().is_some() {
        return Err(format!("--{name} given more than once"));
    }
    Ok(first)
}

fn json_array(rest: &str) -> Option<Vec<String>> {
    if !rest.trim_start().starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(rest.trim()).ok()
}

/// Exec form when the arguments are a JSON array of strings, else shell form (docker's rule).
fn shell_or_exec(rest: &str, keyword: &str) -> Result<ShellOrExec, String> {
    match json_array(rest) {
        Some(argv) => Ok(ShellOrExec::Exec(argv)),
        None if rest.trim().is_empty() => Err(format!("{keyword} needs a command")),
        None => Ok(ShellOrExec::Shell(rest.trim().to_string())),
    }
}

fn key_values(rest: &str, keyword: &str, escape: char) -> Result<Vec<KeyValue>, String> {
    let words = split_words(rest, escape);
    if words.is_empty() {
        return Err(format!("{keyword} needs at least one key=value"));
    }
    words
        .into_iter()
        .map(|word| match word.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok(KeyValue {
                key: key.to_string(),
                value: value.to_string(),
            }),
            _ => Err(format!("{keyword} expects key=value, got {word:?}")),
        })
        .collect()
}

fn nonempty(rest: &str, keyword: &str) -> Result<String, String> {
    let rest = rest.trim();
    if rest.is_empty() {
        return Err(format!("{keyword} needs an argument"));
    }
    Ok(rest.to_string())
}

fn copy_source(
    rest: &str,
    heredocs: Vec<Heredoc>,
    keyword: &str,
    escape: char,
) -> Result<CopySource, String> {
    let mut words = match json_array(rest) {
        Some(words) => words,
        None => split_words(rest, escape),
    };
    if !heredocs.is_empty() {
        words.retain(|w| !w.starts_with("<<"));
        if words.len() != 1 {
            return Err(format!("{keyword} with heredocs takes one destination"));
        }
    } else if words.len() < 2 {
        return Err(format!(
            "{keyword} needs at least one source and a destination"
        ));
    }
    let dest = words.pop().unwrap_or_default();
    Ok(CopySource {
        paths: words,
        dest,
        heredocs,
    })
}

fn instruction(
    text: &str,
    heredocs: Vec<Heredoc>,
    escape: char,
) -> Result<InstructionKind, String> {
    let (keyword, rest) = match text.split_once(char::is_whitespace) {
        Some((k, r)) => (k, r.trim_start()),
        None => (text, ""),
    };
    let upper = keyword.to_ascii_uppercase();
    let kind = match upper.as_str() {
        "FROM" => {
            let (flags, rest) = take_flags(rest, "FROM", &["platform"])?;
            let platform = single_flag(&flags, "platform")?;
            let words = split_words(rest, escape);
            match words.as_slice() {
                [image] => InstructionKind::From {
                    platform,
                    image: image.clone(),
                    alias: None,
                },
                [image, as_word, alias] if as_word.eq_ignore_ascii_case("as") => {
                    InstructionKind::From {
                        platform,
                        image: image.clone(),
                        alias: Some(alias.to_ascii_lowercase()),
                    }
                }
                _ => return Err("FROM expects IMAGE [AS NAME]".to_string()),
            }
        }
        "ARG" => {
            let words = split_words(rest, escape);
            if words.is_empty() {
                return Err("ARG needs a name".to_string());
            }
            let mut args = Vec::new();
            for word in words {
                let (name, default) = match word.split_once('=') {
                    Some((n, d)) => (n.to_string(), Some(d.to_string())),
                    None => (word, None),
                };
                if name.is_empty() {
                    return Err("ARG has an empty name".to_string());
                }
                args.push((name, default));
            }
            InstructionKind::Arg(args)
        }
        "ENV" => {
            let first = split_words(rest, escape).into_iter().next();
            match first {
                None => return Err("ENV needs a variable".to_string()),
                Some(word) if word.contains('=') => {
                    InstructionKind::Env(key_values(rest, "ENV", escape)?)
                }
                // Legacy `ENV key value with spaces`: the rest of the line is the value.
                Some(key) => {
                    let value = rest[key.len()..].trim().to_string();
                    if value.is_empty() {
                        return Err(format!("ENV {key} needs a value"));
                    }
                    InstructionKind::Env(vec![KeyValue { key, value }])
                }
            }
        }
        "LABEL" => InstructionKind::Label(key_values(rest, "LABEL", escape)?),
        "WORKDIR" => InstructionKind::Workdir(nonempty(rest, "WORKDIR")?),
        "USER" => InstructionKind::User(nonempty(rest, "USER")?),
        "STOPSIGNAL" => InstructionKind::StopSignal(nonempty(rest, "STOPSIGNAL")?),
        "MAINTAINER" => InstructionKind::Maintainer(nonempty(rest, "MAINTAINER")?),
        "COPY" => {
            let (flags, rest) = take_flags(
                rest,
                "COPY",
                &["from", "chown", "chmod", "link", "parents", "exclude"],
            )?;
            InstructionKind::Copy {
                from: single_flag(&flags, "from")?,
                chown: single_flag(&flags, "chown")?,
                chmod: single_flag(&flags, "chmod")?,
                link: single_flag(&flags, "link")?.is_some_and(|v| v == "true"),
                files: copy_source(rest, heredocs, "COPY", escape)?,
            }
        }
        "ADD" => {
            let (flags, rest) = take_flags(
                rest,
                "ADD",
                &[
                    "checksum",
                    "chown",
                    "chmod",
                    "link",
                    "keep-git-dir",
                    "exclude",
                ],
            )?;
            InstructionKind::Add {
                checksum: single_flag(&flags, "checksum")?,
                chown: single_flag(&flags, "chown")?,
                chmod: single_flag(&flags, "chmod")?,
                link: single_flag(&flags, "link")?.is_some_and(|v| v == "true"),
                files: copy_source(rest, heredocs, "ADD", escape)?,
            }
        }
        "RUN" => {
            let (flags, rest) = take_flags(rest, "RUN", &["mount", "network", "security"])?;
            InstructionKind::Run {
                flags,
                command: shell_or_exec(rest, "RUN")?,
                heredocs,
            }
        }
        "CMD" => InstructionKind::Cmd(shell_or_exec(rest, "CMD")?),
        "ENTRYPOINT" => InstructionKind::Entrypoint(shell_or_exec(rest, "ENTRYPOINT")?),
        "EXPOSE" => {
            let ports = split_words(rest, escape);
            if ports.is_empty() {
                return Err("EXPOSE needs a port".to_string());
            }
            InstructionKind::Expose(ports)
        }
        "VOLUME" => {
            let paths = json_array(rest).unwrap_or_else(|| split_words(rest, escape));
            if paths.is_empty() || paths.iter().any(|p| p.trim().is_empty()) {
                return Err("VOLUME needs non-empty paths".to_string());
            }
            InstructionKind::Volume(paths)
        }
        "SHELL" => match json_array(rest) {
            Some(argv) if !argv.is_empty() => InstructionKind::Shell(argv),
            _ => return Err("SHELL must be a non-empty JSON array".to_string()),
        },
        "HEALTHCHECK" => {
            if rest.trim().eq_ignore_ascii_case("none") {
                InstructionKind::Healthcheck(Healthcheck::None)
            } else {
                let allowed = [
                    "interval",
                    "timeout",
                    "start-period",
                    "start-interval",
                    "retries",
                ];
                let (flags, rest) = take_flags(rest, "HEALTHCHECK", &allowed)?;
                let mut options = BTreeMap::new();
                for (name, value) in flags {
                    if options.insert(name.clone(), value).is_some() {
                        return Err(format!("--{name} given more than once"));
                    }
                }
                let (cmd, command) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                if !cmd.eq_ignore_ascii_case("cmd") {
                    return Err("HEALTHCHECK expects NONE or [OPTIONS] CMD command".to_string());
                }
                InstructionKind::Healthcheck(Healthcheck::Cmd {
                    options,
                    command: shell_or_exec(command, "HEALTHCHECK CMD")?,
                })
            }
        }
        "ONBUILD" => {
            let inner_keyword = rest.split_whitespace().next().unwrap_or("");
            if ["ONBUILD", "FROM", "MAINTAINER"]
                .iter()
                .any(|k| k.eq_ignore_ascii_case(inner_keyword))
            {
                return Err(format!("ONBUILD cannot wrap {inner_keyword}"));
            }
            if inner_keyword.is_empty() {
                return Err("ONBUILD needs an instruction".to_string());
            }
            let inner = instruction(rest, Vec::new(), escape)?;
            InstructionKind::Onbuild {
                text: rest.trim().to_string(),
                inner: Box::new(inner),
            }
        }
        _ => return Err(format!("unknown instruction {keyword}")),
    };
    Ok(kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<InstructionKind> {
        parse(src, "Dockerfile")
            .unwrap()
            .instructions
            .into_iter()
            .map(|i| i.kind)
            .collect()
    }

    fn one(src: &str) -> InstructionKind {
        kinds(src).remove(0)
    }

    fn err(src: &str) -> String {
        parse(src, "ctx/Dockerfile").unwrap_err().to_string()
    }

    fn kv(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: value.into(),
        }
    }

    #[test]
    fn from_forms() {
        assert_eq!(
            one("from --platform=$BUILDPLATFORM golang:1.22 As Build"),
            InstructionKind::From {
                platform: Some("$BUILDPLATFORM".into()),
                image: "golang:1.22".into(),
                alias: Some("build".into()),
            }
        );
        assert_eq!(
            one("FROM scratch"),
            InstructionKind::From {
                platform: None,
                image: "scratch".into(),
                alias: None
            }
        );
        assert_eq!(
            err("FROM a b"),
            "ctx/Dockerfile:1: FROM expects IMAGE [AS NAME]"
        );
        assert!(err("FROM --plat=x a").contains("unknown flag --plat for FROM"));
    }

    #[test]
    fn arg_env_label() {
        assert_eq!(
            one("ARG A B=2 C=\"x y\""),
            InstructionKind::Arg(vec![
                ("A".into(), None),
                ("B".into(), Some("2".into())),
                ("C".into(), Some("\"x y\"".into()))
            ])
        );
        assert_eq!(
            one("ENV A=1 B=\"two words\" C=a\\ b"),
            InstructionKind::Env(vec![
                kv("A", "1"),
                kv("B", "\"two words\""),
                kv("C", "a\\ b")
            ])
        );
        assert_eq!(
            one("ENV PATH /usr/local/bin:$PATH  extra"),
            InstructionKind::Env(vec![kv("PATH", "/usr/local/bin:$PATH  extra")])
        );
        assert_eq!(
            one("LABEL \"com.example.vendor\"=\"ACME\" version=1.0"),
            InstructionKind::Label(vec![
                kv("\"com.example.vendor\"", "\"ACME\""),
                kv("version", "1.0")
            ])
        );
        assert!(
            err("FROM a\nLABEL novalue").starts_with("ctx/Dockerfile:2: LABEL expects key=value")
        );
        assert!(err("ENV K").contains("ENV K needs a value"));
        assert!(err("ARG").contains("ARG needs a name"));
    }

    #[test]
    fn copy_and_add_flags() {
        assert_eq!(
            one("COPY --from=build --chown=1:2 --chmod=0755 a b /dst/"),
            InstructionKind::Copy {
                from: Some("build".into()),
                chown: Some("1:2".into()),
                chmod: Some("0755".into()),
                link: false,
                files: CopySource {
                    paths: vec!["a".into(), "b".into()],
                    dest: "/dst/".into(),
                    heredocs: vec![]
                },
            }
        );
        match one("ADD --checksum=sha256:abc --link [\"http://x/y.tgz\", \"/opt/\"]") {
            InstructionKind::Add {
                checksum,
                link,
                files,
                ..
            } => {
                assert_eq!(checksum.as_deref(), Some("sha256:abc"));
                assert!(link);
                assert_eq!(files.paths, ["http://x/y.tgz"]);
                assert_eq!(files.dest, "/opt/");
            }
            other => panic!("{other:?}"),
        }
        assert!(err("COPY onlyone").contains("COPY needs at least one source and a destination"));
        assert!(err("COPY --from=a --from=b x y").contains("--from given more than once"));
        assert!(err("ADD --from=a x y").contains("unknown flag --from for ADD"));
    }

    #[test]
    fn copy_heredoc_file() {
        match one("COPY <<EOF /etc/motd\nhello\nEOF\n") {
            InstructionKind::Copy { files, .. } => {
                assert!(files.paths.is_empty());
                assert_eq!(files.dest, "/etc/motd");
                assert_eq!(files.heredocs[0].body, "hello\n");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn run_forms() {
        assert_eq!(
            one("RUN apt-get update && \\\n    apt-get install -y x"),
            InstructionKind::Run {
                flags: vec![],
                command: ShellOrExec::Shell("apt-get update &&     apt-get install -y x".into()),
                heredocs: vec![]
            }
        );
        assert_eq!(
            one("RUN --network=none [\"/bin/sh\", \"-c\", \"echo hi\"]"),
            InstructionKind::Run {
                flags: vec![("network".into(), "none".into())],
                command: ShellOrExec::Exec(vec!["/bin/sh".into(), "-c".into(), "echo hi".into()]),
                heredocs: vec![]
            }
        );
        // Not valid JSON: docker falls back to the shell form.
        assert_eq!(
            one("RUN [ -f /x ] || true"),
            InstructionKind::Run {
                flags: vec![],
                command: ShellOrExec::Shell("[ -f /x ] || true".into()),
                heredocs: vec![]
            }
        );
        match one("RUN <<EOF\nset -e\necho $HOME\nEOF") {
            InstructionKind::Run {
                command, heredocs, ..
            } => {
                assert_eq!(command, ShellOrExec::Shell("<<EOF".into()));
                assert_eq!(heredocs[0].body, "set -e\necho $HOME\n");
            }
            other => panic!("{other:?}"),
        }
        assert!(err("RUN").contains("RUN needs a command"));
    }

    #[test]
    fn cmd_entrypoint_shell_expose_volume_stopsignal() {
        assert_eq!(
            kinds("CMD [\"a\",\"b\"]\nENTRYPOINT exec top -b\nSHELL [\"powershell\", \"-c\"]\nEXPOSE 80/tcp 53/udp\nVOLUME [\"/data\"]\nVOLUME /a /b\nSTOPSIGNAL SIGKILL\nUSER app:app\nWORKDIR /srv\nMAINTAINER me"),
            vec![
                InstructionKind::Cmd(ShellOrExec::Exec(vec!["a".into(), "b".into()])),
                InstructionKind::Entrypoint(ShellOrExec::Shell("exec top -b".into())),
                InstructionKind::Shell(vec!["powershell".into(), "-c".into()]),
                InstructionKind::Expose(vec!["80/tcp".into(), "53/udp".into()]),
                InstructionKind::Volume(vec!["/data".into()]),
                InstructionKind::Volume(vec!["/a".into(), "/b".into()]),
                InstructionKind::StopSignal("SIGKILL".into()),
                InstructionKind::User("app:app".into()),
                InstructionKind::Workdir("/srv".into()),
                InstructionKind::Maintainer("me".into()),
            ]
        );
        assert_eq!(
            kinds("CMD []")[0],
            InstructionKind::Cmd(ShellOrExec::Exec(vec![]))
        );
        assert!(err("SHELL /bin/sh -c").contains("SHELL must be a non-empty JSON array"));
        assert!(err("WORKDIR").contains("WORKDIR needs an argument"));
    }

    #[test]
    fn healthcheck_forms() {
        assert_eq!(
            one("HEALTHCHECK none"),
            InstructionKind::Healthcheck(Healthcheck::None)
        );
        match one("HEALTHCHECK --interval=5m --timeout=3s --retries=3 CMD curl -f http://localhost/ || exit 1") {
            InstructionKind::Healthcheck(Healthcheck::Cmd { options, command }) => {
                assert_eq!(options["interval"], "5m");
                assert_eq!(options["retries"], "3");
                assert_eq!(command, ShellOrExec::Shell("curl -f http://localhost/ || exit 1".into()));
            }
            other => panic!("{other:?}"),
        }
        assert!(err("HEALTHCHECK --bogus=1 CMD x").contains("unknown flag --bogus"));
        assert!(err("HEALTHCHECK echo").contains("NONE or [OPTIONS] CMD"));
    }

    #[test]
    fn onbuild_records_inner() {
        assert_eq!(
            one("ONBUILD RUN make"),
            InstructionKind::Onbuild {
                text: "RUN make".into(),
                inner: Box::new(InstructionKind::Run {
                    flags: vec![],
                    command: ShellOrExec::Shell("make".into()),
                    heredocs: vec![]
                })
            }
        );
        assert!(err("ONBUILD FROM x").contains("ONBUILD cannot wrap FROM"));
        assert!(err("ONBUILD ONBUILD RUN x").contains("cannot wrap ONBUILD"));
    }

    #[test]
    fn lines_and_errors_name_file_and_line() {
        let f = parse(
            "# syntax=docker/dockerfile:1\nFROM a\n\n# c\nRUN x \\\n y\nBOGUS z\n",
            "ctx/Dockerfile",
        );
        assert_eq!(
            f.unwrap_err().to_string(),
            "ctx/Dockerfile:7: unknown instruction BOGUS"
        );
        let f = parse("FROM a\n\n# c\nRUN x \\\n y\nCMD z\n", "D").unwrap();
        let lines: Vec<_> = f.instructions.iter().map(|i| i.line).collect();
        assert_eq!(lines, [1, 4, 6]);
        assert_eq!(f.instructions[1].kind.keyword(), "RUN");
    }

    #[test]
    fn split_words_keeps_quotes_and_escapes() {
        assert_eq!(
            split_words("a \"b c\" 'd e' f\\ g", '\\'),
            ["a", "\"b c\"", "'d e'", "f\\ g"]
        );
        assert_eq!(split_words("a` b c", '`'), ["a` b", "c"]);
        assert!(split_words("   ", '\\').is_empty());
    }

    #[test]
    fn whole_multi_stage_file() {
        let src = "# syntax=docker/dockerfile:1.7\n\
ARG GO=1.22\n\
FROM golang:${GO} AS build\n\
WORKDIR /src\n\
COPY go.mod go.sum ./\n\
RUN --mount=type=cache,target=/root/.cache \\\n\
    go build -o /out/app ./cmd/app\n\
\n\
FROM scratch\n\
COPY --from=build --chmod=0555 /out/app /app\n\
USER 65534:65534\n\
EXPOSE 8080\n\
HEALTHCHECK CMD [\"/app\", \"-health\"]\n\
ENTRYPOINT [\"/app\"]\n";
        let f = parse(src, "Dockerfile").unwrap();
        assert_eq!(f.directives["syntax"], "docker/dockerfile:1.7");
        let summary: Vec<_> = f
            .instructions
            .iter()
            .map(|i| (i.line, i.kind.keyword()))
            .collect();
        assert_eq!(
            summary,
            [
                (2, "ARG"),
                (3, "FROM"),
                (4, "WORKDIR"),
                (5, "COPY"),
                (6, "RUN"),
                (9, "FROM"),
                (10, "COPY"),
                (11, "USER"),
                (12, "EXPOSE"),
                (13, "HEALTHCHECK"),
                (14, "ENTRYPOINT"),
            ]
        );
        match &f.instructions[4].kind {
            InstructionKind::Run { flags, command, .. } => {
                assert_eq!(flags[0].0, "mount");
                assert_eq!(
                    *command,
                    ShellOrExec::Shell("go build -o /out/app ./cmd/app".into())
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
