//! Variable substitution as docker's builder does it, and the ARG/ENV scoping it reads from.
//!
//! `expand_word` follows docker's shell lexer for one word: `$VAR`, `${VAR}`, `${VAR:-word}`,
//! `${VAR-word}`, `${VAR:+word}`, `${VAR+word}`, `${VAR:?msg}`, `${VAR?msg}`; single quotes are
//! literal, double quotes expand, the escape character (`\` or the `# escape=` one) makes the
//! next character literal, and quotes are removed. `expand_text` does the same but keeps quotes
//! (for unquoted heredoc bodies). Which instructions are expanded is `expands` (docker's list);
//! RUN, CMD and ENTRYPOINT are left to the shell.
//!
//! Scoping (`BuildArgs`, `StageVars`): ARGs before the first FROM are global and visible only in
//! FROM lines, unless a stage re-declares them (`ARG NAME` without a default takes the global
//! value); `--build-arg` overrides any declared default; an ENV of the same name beats an ARG.
//! All pairs of one ENV/LABEL instruction are expanded against the variables as they were
//! before it, as docker does.

use std::collections::{BTreeMap, BTreeSet};

use super::dockerfile::InstructionKind;

/// A substitution failure (bad syntax, or `${VAR:?msg}` on an unset variable).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    #[error("missing closing {0} in {1:?}")]
    Unterminated(char, String),
    #[error("bad substitution in {0:?}")]
    BadSubstitution(String),
    #[error("{name}: {message}")]
    Required { name: String, message: String },
}

/// True for the instructions docker expands variables in (ONBUILD follows its inner one).
pub fn expands(kind: &InstructionKind) -> bool {
    match kind {
        InstructionKind::Onbuild { inner, .. } => expands(inner),
        InstructionKind::Add { .. }
        | InstructionKind::Arg(_)
        | InstructionKind::Copy { .. }
        | InstructionKind::Env(_)
        | InstructionKind::Expose(_)
        | InstructionKind::From { .. }
        | InstructionKind::Label(_)
        | InstructionKind::StopSignal(_)
        | InstructionKind::User(_)
        | InstructionKind::Volume(_)
        | InstructionKind::Workdir(_) => true,
        _ => false,
    }
}

struct Lexer<'a, F> {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    remove_quotes: bool,
    lookup: &'a F,
    source: &'a str,
}

impl<F: Fn(&str) -> Option<String>> Lexer<'_, F> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// Read until `stop` (not consumed) or the end, expanding as we go.
    fn word(&mut self, stop: Option<char>) -> Result<String, ExpandError> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                break;
            }
            self.pos += 1;
            if c == self.escape {
                match self.next() {
                    Some(n) => {
                        if !self.remove_quotes && n != '$' {
                            out.push(c);
                        }
                        out.push(n);
                    }
                    None => out.push(c),
                }
            } else if c == '\'' && self.remove_quotes {
                self.single_quoted(&mut out)?;
            } else if c == '"' && self.remove_quotes {
                self.double_quoted(&mut out)?;
            } else if c == '$' {
                self.dollar(&mut out)?;
            } else {
                out.push(c);
            }
        }
        Ok(out)
    }

    fn single_quoted(&mut self, out: &mut String) -> Result<(), ExpandError> {
        loop {
            match self.next() {
                Some('\'') => return Ok(()),
                Some(c) => out.push(c),
                None => return Err(ExpandError::Unterminated('\'', self.source.to_string())),
            }
        }
    }

    fn double_quoted(&mut self, out: &mut String) -> Result<(), ExpandError> {
        loop {
            match self.next() {
                Some('"') => return Ok(()),
                Some('$') => self.dollar(out)?,
                Some(c) if c == self.escape => match self.peek() {
                    Some(n) if n == '"' || n == '$' || n == self.escape => {
                        self.pos += 1;
                        out.push(n);
                    }
                    _ => out.push(c),
                },
                Some(c) => out.push(c),
                None => return Err(ExpandError::Unterminated('"', self.source.to_string())),
            }
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                name.push(c);
                self.pos += 1;
            } else {
                break;
            }
        }
        name
    }

    fn dollar(&mut self, out: &mut String) -> Result<(), ExpandError> {
        match self.peek() {
            Some('{') => {
                self.pos += 1;
                self.braced(out)
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let name = self.name();
                out.push_str(&(self.lookup)(&name).unwrap_or_default());
                Ok(())
            }
            _ => {
                out.push('$');
                Ok(())
            }
        }
    }

    fn braced(&mut self, out: &mut String) -> Result<(), ExpandError> {
        let name = self.name();
        if name.is_empty() {
            return Err(ExpandError::BadSubstitution(self.source.to_string()));
        }
        let value = (self.lookup)(&name);
        let colon = self.peek() == Some(':');
        if colon {
            self.pos += 1;
        }
        let op = self.next();
        if op == Some('}') && !colon {
            out.push_str(&value.unwrap_or_default());
            return Ok(());
        }
        let Some(op @ ('-' | '+' | '?')) = op else {
            return Err(ExpandError::BadSubstitution(self.source.to_string()));
        };
        let word = self.word(Some('}'))?;
        if self.next() != Some('}') {
            return Err(ExpandError::Unterminated('}', self.source.to_string()));
        }
        // With a colon an empty value counts as unset.
        let set = match &value {
            Some(v) => !(colon && v.is_empty()),
            None => false,
        };
        match op {
            '-' => out.push_str(&if set { value.unwrap_or_default() } else { word }),
            '+' => {
                if set {
                    out.push_str(&word);
                }
            }
            _ => {
                if !set {
                    let message = if word.is_empty() {
                        "parameter not set or null".to_string()
                    } else {
                        word
                    };
                    return Err(ExpandError::Required { name, message });
                }
                out.push_str(&value.unwrap_or_default());
            }
        }
        Ok(())
    }
}

fn run<F: Fn(&str) -> Option<String>>(
    text: &str,
    escape: char,
    remove_quotes: bool,
    lookup: &F,
) -> Result<String, ExpandError> {
    let mut lexer = Lexer {
        chars: text.chars().collect(),
        pos: 0,
        escape,
        remove_quotes,
        lookup,
        source: text,
    };
    lexer.word(None)
}

/// Expand one word as docker does: variables substituted, quotes and escapes removed.
pub fn expand_word<F: Fn(&str) -> Option<String>>(
    word: &str,
    escape: char,
    lookup: &F,
) -> Result<String, ExpandError> {
    run(word, escape, true, lookup)
}

/// Expand variables in free text (an unquoted heredoc body) and keep quotes; only `\$` is
/// unescaped.
pub fn expand_text<F: Fn(&str) -> Option<String>>(
    text: &str,
    escape: char,
    lookup: &F,
) -> Result<String, ExpandError> {
    run(text, escape, false, lookup)
}

/// `--build-arg` values and the global ARGs (declared before the first FROM).
#[derive(Debug, Clone, Default)]
pub struct BuildArgs {
    overrides: BTreeMap<String, String>,
    globals: BTreeMap<String, Option<String>>,
    consumed: BTreeSet<String>,
}

impl BuildArgs {
    pub fn new(overrides: BTreeMap<String, String>) -> Self {
        Self {
            overrides,
            ..Self::default()
        }
    }

    fn resolve(&mut self, name: &str, default: Option<String>) -> Option<String> {
        match self.overrides.get(name) {
            Some(v) => {
                self.consumed.insert(name.to_string());
                Some(v.clone())
            }
            None => default,
        }
    }

    /// A global `ARG name[=default]`; the default is already expanded with `global`.
    pub fn declare_global(&mut self, name: &str, default: Option<String>) {
        let value = self.resolve(name, default);
        self.globals.insert(name.to_string(), value);
    }

    /// The value FROM lines see for `name`.
    pub fn global(&self, name: &str) -> Option<String> {
        self.globals.get(name).cloned().flatten()
    }

    /// `--build-arg`s no ARG declared (docker warns about them).
    pub fn unused(&self) -> Vec<String> {
        self.overrides
            .keys()
            .filter(|k| !self.consumed.contains(*k))
            .cloned()
            .collect()
    }
}

/// The variables one stage sees: its declared ARGs and its ENV (ENV wins).
#[derive(Debug, Clone, Default)]
pub struct StageVars {
    args: BTreeMap<String, Option<String>>,
    env: BTreeMap<String, String>,
}

impl StageVars {
    /// A stage starts with its base image's ENV; no ARGs until it declares them.
    pub fn new(image_env: BTreeMap<String, String>) -> Self {
        Self {
            args: BTreeMap::new(),
            env: image_env,
        }
    }

    /// `ARG name[=default]` in the stage: `--build-arg`, then the default, then the global value.
    pub fn declare_arg(&mut self, build_args: &mut BuildArgs, name: &str, default: Option<String>) {
        let fallback = default.or_else(|| build_args.global(name));
        let value = build_args.resolve(name, fallback);
        self.args.insert(name.to_string(), value);
    }

    pub fn set_env(&mut self, key: &str, value: String) {
        self.env.insert(key.to_string(), value);
    }

    /// The value `$name` expands to.
    pub fn get(&self, name: &str) -> Option<String> {
        self.env
            .get(name)
            .cloned()
            .or_else(|| self.args.get(name).cloned().flatten())
    }

    /// Declared ARGs with a value (RUN sees these in its environment).
    pub fn args(&self) -> impl Iterator<Item = (&str, &str)> {
        self.args
            .iter()
            .filter_map(|(k, v)| v.as_deref().map(|v| (k.as_str(), v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::dockerfile::parse;

    fn vars() -> impl Fn(&str) -> Option<String> {
        |name: &str| match name {
            "NAME" => Some("world".to_string()),
            "EMPTY" => Some(String::new()),
            "DIR" => Some("/srv/app".to_string()),
            _ => None,
        }
    }

    fn w(word: &str) -> String {
        expand_word(word, '\\', &vars()).unwrap()
    }

    #[test]
    fn plain_and_braced() {
        assert_eq!(w("$NAME"), "world");
        assert_eq!(w("${NAME}"), "world");
        assert_eq!(w("hello-$NAME.txt"), "hello-world.txt");
        assert_eq!(w("${DIR}/bin"), "/srv/app/bin");
        assert_eq!(w("$DIRx"), "");
        assert_eq!(w("$UNSET"), "");
        assert_eq!(w("a$"), "a$");
        assert_eq!(w("$1"), "$1");
        assert_eq!(w("cost: $ 5"), "cost: $ 5");
    }

    #[test]
    fn modifiers() {
        assert_eq!(w("${UNSET:-def}"), "def");
        assert_eq!(w("${EMPTY:-def}"), "def");
        assert_eq!(w("${NAME:-def}"), "world");
        assert_eq!(w("${UNSET-def}"), "def");
        assert_eq!(w("${EMPTY-def}"), "");
        assert_eq!(w("${NAME:+alt}"), "alt");
        assert_eq!(w("${EMPTY:+alt}"), "");
        assert_eq!(w("${EMPTY+alt}"), "alt");
        assert_eq!(w("${UNSET+alt}"), "");
        assert_eq!(w("${UNSET:-$DIR/x}"), "/srv/app/x");
        assert_eq!(w("${UNSET:-${NAME:+nested}}"), "nested");
        assert_eq!(w("${NAME:?must}"), "world");
    }

    #[test]
    fn required_and_bad_syntax_fail() {
        let v = vars();
        assert_eq!(
            expand_word("${UNSET:?need it}", '\\', &v)
                .unwrap_err()
                .to_string(),
            "UNSET: need it"
        );
        assert!(expand_word("${EMPTY:?}", '\\', &v).is_err());
        assert_eq!(expand_word("${EMPTY?}", '\\', &v).unwrap(), "");
        assert!(matches!(
            expand_word("${}", '\\', &v),
            Err(ExpandError::BadSubstitution(_))
        ));
        assert!(matches!(
            expand_word("${NAME", '\\', &v),
            Err(ExpandError::BadSubstitution(_))
        ));
        assert!(matches!(
            expand_word("${NAME:-x", '\\', &v),
            Err(ExpandError::Unterminated('}', _))
        ));
        assert!(matches!(
            expand_word("${NAME%x}", '\\', &v),
            Err(ExpandError::BadSubstitution(_))
        ));
        assert!(matches!(
            expand_word("'abc", '\\', &v),
            Err(ExpandError::Unterminated('\'', _))
        ));
        assert!(matches!(
            expand_word("\"abc", '\\', &v),
            Err(ExpandError::Unterminated('"', _))
        ));
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(w("\\$NAME"), "$NAME");
        assert_eq!(w("\\${NAME}"), "${NAME}");
        assert_eq!(w("'$NAME'"), "$NAME");
        assert_eq!(w("\"$NAME\""), "world");
        assert_eq!(w("\"a b\""), "a b");
        assert_eq!(w("\"say \\\"hi\\\" \\$NAME\""), "say \"hi\" $NAME");
        assert_eq!(w("\"c:\\dir\""), "c:\\dir");
        assert_eq!(w("a\\ b"), "a b");
        assert_eq!(w("'it''s'"), "its");
        assert_eq!(
            expand_word("`$NAME-$NAME", '`', &vars()).unwrap(),
            "$NAME-world"
        );
        assert_eq!(expand_word("c:\\$NAME", '`', &vars()).unwrap(), "c:\\world");
    }

    #[test]
    fn text_keeps_quotes() {
        let v = vars();
        assert_eq!(
            expand_text("echo \"$NAME\" '$NAME' \\$NAME\n", '\\', &v).unwrap(),
            "echo \"world\" 'world' $NAME\n"
        );
        assert_eq!(expand_text("a\\nb", '\\', &v).unwrap(), "a\\nb");
    }

    #[test]
    fn which_instructions_expand() {
        let f = parse(
            "ARG V\nFROM x\nENV A=1\nLABEL a=b\nWORKDIR /w\nUSER u\nCOPY a b\nADD a b\nEXPOSE 1\nVOLUME /v\nSTOPSIGNAL 9\nONBUILD COPY a b\nRUN x\nCMD x\nENTRYPOINT x\nSHELL [\"sh\"]\nHEALTHCHECK NONE\nONBUILD RUN x\n",
            "D",
        )
        .unwrap();
        let got: Vec<_> = f
            .instructions
            .iter()
            .map(|i| (i.kind.keyword(), expands(&i.kind)))
            .collect();
        let want_true = 12;
        assert!(got[..want_true].iter().all(|(_, e)| *e), "{got:?}");
        assert!(got[want_true..].iter().all(|(_, e)| !*e), "{got:?}");
    }

    fn overrides(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn global_args_reach_from_only_until_redeclared() {
        let mut args = BuildArgs::new(overrides(&[("VERSION", "2.0")]));
        args.declare_global("VERSION", Some("1.0".into()));
        args.declare_global("BASE", Some("alpine".into()));
        let from = expand_word("$BASE:${VERSION}", '\\', &|n: &str| args.global(n)).unwrap();
        assert_eq!(from, "alpine:2.0");

        let mut stage = StageVars::new(BTreeMap::new());
        assert_eq!(
            stage.get("VERSION"),
            None,
            "globals are not visible in a stage"
        );
        stage.declare_arg(&mut args, "VERSION", None);
        assert_eq!(stage.get("VERSION").as_deref(), Some("2.0"));
        stage.declare_arg(&mut args, "BASE", Some("debian".into()));
        assert_eq!(stage.get("BASE").as_deref(), Some("debian"));
        stage.declare_arg(&mut args, "NOVALUE", None);
        assert_eq!(stage.get("NOVALUE"), None);
        let with_values: Vec<_> = stage.args().map(|(k, _)| k).collect();
        assert_eq!(with_values, ["BASE", "VERSION"]);
    }

    #[test]
    fn build_arg_overrides_stage_default_and_env_beats_arg() {
        let mut args = BuildArgs::new(overrides(&[("USER", "builder"), ("UNUSED", "x")]));
        let mut stage = StageVars::new(overrides(&[("PATH", "/bin")]));
        stage.declare_arg(&mut args, "USER", Some("nobody".into()));
        assert_eq!(stage.get("USER").as_deref(), Some("builder"));
        stage.set_env("USER", "envuser".into());
        assert_eq!(stage.get("USER").as_deref(), Some("envuser"));
        assert_eq!(stage.get("PATH").as_deref(), Some("/bin"));
        assert_eq!(args.unused(), ["UNUSED"]);
    }

    #[test]
    fn build_args_without_declaration_are_invisible() {
        let mut args = BuildArgs::new(overrides(&[("SECRET", "s")]));
        args.declare_global("OTHER", None);
        assert_eq!(args.global("SECRET"), None);
        assert_eq!(args.global("OTHER"), None);
        let stage = StageVars::new(BTreeMap::new());
        assert_eq!(stage.get("SECRET"), None);
        assert_eq!(args.unused(), ["SECRET"]);
    }
}
