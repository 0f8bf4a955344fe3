//! The container's environment list ("K=V" entries): lookups and in-place updates with
//! the precedence runc gives them (a later entry overrides an earlier one).

/// The value of `key` in a "K=V" list; the last entry wins, as with repeated setenv.
pub fn env_value<'a>(env: &'a [String], key: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find_map(|entry| entry.strip_prefix(key)?.strip_prefix('='))
}

/// Sets `key` to `value` in an environment list of "K=V" entries: the first entry for
/// `key` is replaced, later duplicates removed; appended when absent.
pub fn set_env(env: &mut Vec<String>, key: &str, value: &str) {
    let entry = format!("{key}={value}");
    let is_key = |item: &String| item.split_once('=').map(|(k, _)| k) == Some(key);
    match env.iter().position(is_key) {
        Some(first) => {
            env[first] = entry;
            let mut index = 0;
            env.retain(|item| {
                let keep = index <= first || !is_key(item);
                index += 1;
                keep
            });
        }
        None => env.push(entry),
    }
}

/// Adds HOME=`home` unless the environment already sets HOME (runc does this with the
/// user's passwd home, "/" when there is none).
pub fn default_home(env: &mut Vec<String>, home: &str) {
    if env_value(env, "HOME").is_none() {
        env.push(format!("HOME={home}"));
    }
}

/// One "K=V" entry: a '=' present, a non-empty name, no NUL byte.
pub(crate) fn check_env_entry(entry: &str) -> Result<(), String> {
    let Some((name, _)) = entry.split_once('=') else {
        return Err(format!(
            "invalid environment variable {entry:?}: missing '='"
        ));
    };
    if name.is_empty() {
        return Err(format!(
            "invalid environment variable {entry:?}: name cannot be empty"
        ));
    }
    if entry.contains('\0') {
        return Err(format!(
            "invalid environment variable {entry:?}: contains a NUL byte"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn set_env_replaces_first_and_drops_duplicates() {
        let mut env = strings(&[
            "A=1",
            "LISTEN_FDS=9",
            "B=2",
            "LISTEN_FDS=8",
            "LISTEN_FDSX=7",
        ]);
        set_env(&mut env, "LISTEN_FDS", "2");
        assert_eq!(
            env,
            strings(&["A=1", "LISTEN_FDS=2", "B=2", "LISTEN_FDSX=7"])
        );
        set_env(&mut env, "LISTEN_PID", "1");
        assert_eq!(env.last().map(String::as_str), Some("LISTEN_PID=1"));
    }

    #[test]
    fn env_value_takes_last_entry() {
        let env = strings(&["PATH=/a", "PATHX=/x", "PATH=/b"]);
        assert_eq!(env_value(&env, "PATH"), Some("/b"));
        assert_eq!(env_value(&env, "HOME"), None);
    }

    #[test]
    fn default_home_only_when_unset() {
        let mut env = strings(&["PATH=/bin"]);
        default_home(&mut env, "/root");
        assert_eq!(env, strings(&["PATH=/bin", "HOME=/root"]));
        default_home(&mut env, "/other");
        assert_eq!(env, strings(&["PATH=/bin", "HOME=/root"]));
    }
}
