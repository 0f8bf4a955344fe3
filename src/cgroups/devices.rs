//! Device cgroup rules (`linux.resources.devices`): formatting for v1's devices.allow /
//! devices.deny, the order of writes that gives the rules' meaning on v1, and a pure
//! evaluator of that meaning (rules in order, the last one matching a device and access
//! decides, nothing matching is denied) so the semantics are testable without root.

use super::CgroupError;
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

/// The kind of device node a check asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Char,
    Block,
}

fn type_char(rule: &LinuxDeviceCgroup) -> char {
    match rule.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => 'a',
        LinuxDeviceType::B => 'b',
        LinuxDeviceType::C | LinuxDeviceType::U => 'c',
        LinuxDeviceType::P => 'p',
    }
}

fn access_of(rule: &LinuxDeviceCgroup) -> &str {
    match rule.access().as_deref() {
        None | Some("") => "rwm",
        Some(a) => a,
    }
}

fn number(n: Option<i64>) -> String {
    match n {
        Some(v) if v >= 0 => v.to_string(),
        _ => "*".to_string(),
    }
}

/// A rule as v1's devices.allow/devices.deny take it: "c 1:3 rwm", "a *:* rwm".
pub fn v1_line(rule: &LinuxDeviceCgroup) -> String {
    format!(
        "{} {}:{} {}",
        type_char(rule),
        number(rule.major()),
        number(rule.minor()),
        access_of(rule)
    )
}

/// True when the rule covers every device and every access (it resets the list).
fn is_full_wildcard(rule: &LinuxDeviceCgroup) -> bool {
    type_char(rule) == 'a'
        && rule.major().is_none_or(|m| m < 0)
        && rule.minor().is_none_or(|m| m < 0)
        && ["r", "w", "m"].iter().all(|a| access_of(rule).contains(a))
}

/// Validates every rule's access string (only r, w, m) and type.
pub fn check(rules: &[LinuxDeviceCgroup]) -> Result<(), CgroupError> {
    for rule in rules {
        if !access_of(rule)
            .chars()
            .all(|c| matches!(c, 'r' | 'w' | 'm'))
        {
            return Err(CgroupError::Invalid(format!(
                "device rule {:?}: access must be made of r, w and m",
                v1_line(rule)
            )));
        }
        if type_char(rule) == 'p' {
            return Err(CgroupError::Invalid(format!(
                "device rule {:?}: the device cgroup has no fifo type",
                v1_line(rule)
            )));
        }
    }
    Ok(())
}

/// The writes that give `rules` their meaning on v1, in order: (file, line). Everything
/// before the last full wildcard rule is moot; that rule (or, without one, a deny-all)
/// sets the default, and the rules after it follow in order.
pub fn v1_writes(rules: &[LinuxDeviceCgroup]) -> Vec<(&'static str, String)> {
    if rules.is_empty() {
        return Vec::new();
    }
    let start = rules.iter().rposition(is_full_wildcard);
    let mut writes = Vec::new();
    let rest = match start {
        Some(i) => {
            let file = if rules[i].allow() {
                "devices.allow"
            } else {
                "devices.deny"
            };
            writes.push((file, "a *:* rwm".to_string()));
            &rules[i + 1..]
        }
        None => {
            writes.push(("devices.deny", "a *:* rwm".to_string()));
            rules
        }
    };
    for rule in rest {
        let file = if rule.allow() {
            "devices.allow"
        } else {
            "devices.deny"
        };
        writes.push((file, v1_line(rule)));
    }
    writes
}

/// Access sets per rule key ("c 1:3"), merged as the kernel merges exceptions.
fn exceptions<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in lines {
        let Some((key, access)) = line.trim().rsplit_once(' ') else {
            continue;
        };
        match out.iter_mut().find(|(k, _)| k == key) {
            Some((_, acc)) => {
                let merged: String = "rwm"
                    .chars()
                    .filter(|c| acc.contains(*c) || access.contains(*c))
                    .collect();
                *acc = merged;
            }
            None => out.push((key.to_string(), access.to_string())),
        }
    }
    out
}

fn minus(a: &str, b: &str) -> String {
    "rwm"
        .chars()
        .filter(|c| a.contains(*c) && !b.contains(*c))
        .collect()
}

/// The writes that take a live v1 cgroup whose devices.list reads `current` to
/// `rules` without a moment where a kept device is denied: when both are "deny all
/// but these", only the differences are written (denies of what goes, then allows of
/// what comes). Otherwise the full [`v1_writes`] sequence.
pub fn v1_transition(current: &str, rules: &[LinuxDeviceCgroup]) -> Vec<(&'static str, String)> {
    let full = v1_writes(rules);
    let current_is_deny_mode = !current.lines().any(|l| l.trim() == "a *:* rwm");
    let target_is_deny_plus_allows = full
        .first()
        .is_some_and(|(f, l)| *f == "devices.deny" && l == "a *:* rwm")
        && full[1..].iter().all(|(f, _)| *f == "devices.allow");
    if !current_is_deny_mode || !target_is_deny_plus_allows {
        return full;
    }
    let have = exceptions(current.lines());
    let want = exceptions(full[1..].iter().map(|(_, l)| l.as_str()));
    let lookup = |list: &[(String, String)], key: &str| {
        list.iter()
            .find(|(k, _)| k == key)
            .map(|(_, a)| a.clone())
            .unwrap_or_default()
    };
    let mut writes = Vec::new();
    for (key, access) in &have {
        let gone = minus(access, &lookup(&want, key));
        if !gone.is_empty() {
            writes.push(("devices.deny", format!("{key} {gone}")));
        }
    }
    for (key, access) in &want {
        let new = minus(access, &lookup(&have, key));
        if !new.is_empty() {
            writes.push(("devices.allow", format!("{key} {new}")));
        }
    }
    writes
}

/// Whether `rules` let a process do `access` ('r', 'w' or 'm') on the device.
pub fn allowed(
    rules: &[LinuxDeviceCgroup],
    kind: Kind,
    major: i64,
    minor: i64,
    access: char,
) -> bool {
    let want = match kind {
        Kind::Char => 'c',
        Kind::Block => 'b',
    };
    rules
        .iter()
        .rev()
        .find(|rule| {
            let t = type_char(rule);
            (t == 'a' || t == want)
                && rule.major().is_none_or(|m| m < 0 || m == major)
                && rule.minor().is_none_or(|m| m < 0 || m == minor)
                && access_of(rule).contains(access)
        })
        .is_some_and(|rule| rule.allow())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        allow: bool,
        typ: Option<LinuxDeviceType>,
        major: Option<i64>,
        minor: Option<i64>,
        access: &str,
    ) -> LinuxDeviceCgroup {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(allow);
        r.set_typ(typ);
        r.set_major(major);
        r.set_minor(minor);
        r.set_access(Some(access.to_string()));
        r
    }

    fn engine_rules() -> Vec<LinuxDeviceCgroup> {
        vec![
            rule(false, None, None, None, "rwm"),
            rule(true, Some(LinuxDeviceType::C), Some(1), Some(3), "rwm"),
            rule(true, Some(LinuxDeviceType::C), Some(136), None, "rw"),
        ]
    }

    #[test]
    fn formats_v1_lines() {
        let r = engine_rules();
        assert_eq!(v1_line(&r[0]), "a *:* rwm");
        assert_eq!(v1_line(&r[1]), "c 1:3 rwm");
        assert_eq!(v1_line(&r[2]), "c 136:* rw");
        assert_eq!(
            v1_line(&rule(true, Some(LinuxDeviceType::B), Some(8), Some(0), "")),
            "b 8:0 rwm"
        );
    }

    #[test]
    fn evaluates_last_match_wins_default_deny() {
        let r = engine_rules();
        assert!(allowed(&r, Kind::Char, 1, 3, 'r'));
        assert!(allowed(&r, Kind::Char, 136, 7, 'w'));
        assert!(!allowed(&r, Kind::Char, 136, 7, 'm'));
        assert!(!allowed(&r, Kind::Block, 8, 0, 'r'));
        assert!(!allowed(&[], Kind::Char, 1, 3, 'r'));
        let mut r2 = r.clone();
        r2.push(rule(false, Some(LinuxDeviceType::C), Some(1), Some(3), "w"));
        assert!(allowed(&r2, Kind::Char, 1, 3, 'r'));
        assert!(!allowed(&r2, Kind::Char, 1, 3, 'w'));
        let all = vec![rule(true, Some(LinuxDeviceType::A), None, None, "rwm")];
        assert!(allowed(&all, Kind::Block, 8, 0, 'm'));
    }

    #[test]
    fn v1_writes_start_from_last_wildcard() {
        let mut r = vec![rule(true, Some(LinuxDeviceType::C), Some(5), Some(1), "rw")];
        r.extend(engine_rules());
        let w = v1_writes(&r);
        assert_eq!(w[0], ("devices.deny", "a *:* rwm".to_string()));
        assert_eq!(w[1], ("devices.allow", "c 1:3 rwm".to_string()));
        assert_eq!(w.len(), 3);
        let no_default = vec![rule(true, Some(LinuxDeviceType::C), Some(1), Some(5), "r")];
        let w = v1_writes(&no_default);
        assert_eq!(w[0].0, "devices.deny");
        assert_eq!(w[1], ("devices.allow", "c 1:5 r".to_string()));
        assert!(v1_writes(&[]).is_empty());
    }

    #[test]
    fn checks_access_and_type() {
        assert!(check(&engine_rules()).is_ok());
        assert!(check(&[rule(true, None, None, None, "rwx")]).is_err());
        assert!(check(&[rule(true, Some(LinuxDeviceType::P), None, None, "r")]).is_err());
    }

    #[test]
    fn live_transition_writes_only_differences() {
        let current = "c 1:3 rwm\nc 136:* rw\nc 1:5 r\n";
        let mut rules = engine_rules();
        rules.push(rule(true, Some(LinuxDeviceType::C), Some(1), Some(9), "rw"));
        rules.push(rule(true, Some(LinuxDeviceType::C), Some(136), None, "m"));
        let w = v1_transition(current, &rules);
        assert_eq!(
            w,
            vec![
                ("devices.deny", "c 1:5 r".to_string()),
                ("devices.allow", "c 136:* m".to_string()),
                ("devices.allow", "c 1:9 rw".to_string()),
            ]
        );
        // Nothing to do when the list already matches.
        assert!(v1_transition("c 1:3 rwm\nc 136:* rw\n", &engine_rules()).is_empty());
        // From allow-all, or towards a deny rule, the full sequence is written.
        assert_eq!(
            v1_transition("a *:* rwm\n", &engine_rules()),
            v1_writes(&engine_rules())
        );
        let mut with_deny = engine_rules();
        with_deny.push(rule(false, Some(LinuxDeviceType::C), Some(1), Some(3), "w"));
        assert_eq!(v1_transition(current, &with_deny), v1_writes(&with_deny));
    }
}
