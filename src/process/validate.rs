//! Validation of the `process` object before anything is made, each error naming the
//! field at fault: typed checks on the parsed [`Process`], and [`validate_json`] for
//! names the typed config cannot hold (unknown capabilities and rlimit types).

use std::collections::HashSet;

use oci_spec::runtime::Process;
use serde_json::Value;

use super::capabilities::is_known_name;
use super::env::check_env_entry;
use super::rlimits::{type_name, KNOWN_TYPES};
use super::scheduling::{validate_io_priority, validate_scheduler};
use super::ProcessError;

const CAPABILITY_SETS: [&str; 5] = [
    "bounding",
    "effective",
    "inheritable",
    "permitted",
    "ambient",
];

fn invalid(msg: String) -> Result<(), ProcessError> {
    Err(ProcessError::Invalid(msg))
}

/// Checks the raw `process` object of config.json (call it before deserializing, with
/// `&config["process"]`): every capability is a `CAP_*` name the kernel interface knows,
/// every rlimit type is an `RLIMIT_*` the spec names, listed once. A missing object passes.
pub fn validate_json(process: &Value) -> Result<(), ProcessError> {
    if let Some(caps) = process.get("capabilities").filter(|c| !c.is_null()) {
        for set in CAPABILITY_SETS {
            let Some(names) = caps.get(set).filter(|n| !n.is_null()) else {
                continue;
            };
            let Some(names) = names.as_array() else {
                return invalid(format!(
                    "process.capabilities.{set}: expected a list of names"
                ));
            };
            for (index, name) in names.iter().enumerate() {
                let Some(name) = name.as_str() else {
                    return invalid(format!(
                        "process.capabilities.{set}[{index}]: expected a string"
                    ));
                };
                if !is_known_name(name) {
                    return invalid(format!(
                        "process.capabilities.{set}: unknown capability {name:?}"
                    ));
                }
            }
        }
    }
    if let Some(rlimits) = process.get("rlimits").filter(|r| !r.is_null()) {
        let Some(rlimits) = rlimits.as_array() else {
            return invalid("process.rlimits: expected a list".into());
        };
        let mut seen = HashSet::new();
        for (index, rlimit) in rlimits.iter().enumerate() {
            let Some(typ) = rlimit.get("type").and_then(Value::as_str) else {
                return invalid(format!("process.rlimits[{index}].type: expected a string"));
            };
            if !KNOWN_TYPES.contains(&typ) {
                return invalid(format!(
                    "process.rlimits[{index}].type: unknown rlimit type {typ:?}"
                ));
            }
            if !seen.insert(typ) {
                return invalid(format!(
                    "process.rlimits: rlimit type {typ:?} is listed more than once"
                ));
            }
        }
    }
    Ok(())
}

fn validate_args(process: &Process) -> Result<(), ProcessError> {
    match process.args().as_deref() {
        None | Some([]) => invalid("process.args must not be empty".into()),
        Some([first, ..]) if first.is_empty() => {
            invalid("process.args[0] must not be empty".into())
        }
        Some(_) => Ok(()),
    }
}

fn validate_cwd(process: &Process) -> Result<(), ProcessError> {
    let cwd = process.cwd();
    if cwd.as_os_str().is_empty() {
        return invalid("process.cwd must not be empty".into());
    }
    if !cwd.is_absolute() {
        return invalid(format!(
            "process.cwd {:?} is not an absolute path",
            cwd.display().to_string()
        ));
    }
    Ok(())
}

fn validate_env(process: &Process) -> Result<(), ProcessError> {
    for entry in process.env().iter().flatten() {
        check_env_entry(entry)
            .map_err(|msg| ProcessError::Invalid(format!("process.env: {msg}")))?;
    }
    Ok(())
}

fn validate_rlimits(process: &Process) -> Result<(), ProcessError> {
    let mut seen = HashSet::new();
    for rlimit in process.rlimits().iter().flatten() {
        let name = type_name(rlimit.typ());
        if !seen.insert(name.clone()) {
            return invalid(format!(
                "process.rlimits: rlimit type {name:?} is listed more than once"
            ));
        }
        if rlimit.soft() > rlimit.hard() {
            return invalid(format!(
                "process.rlimits: {name}: soft limit {} is greater than hard limit {}",
                rlimit.soft(),
                rlimit.hard()
            ));
        }
    }
    Ok(())
}

/// (u32)-1 means "leave unchanged" to the kernel's set*id calls: never a real id.
const NO_ID: u32 = u32::MAX;

fn validate_user(process: &Process) -> Result<(), ProcessError> {
    let user = process.user();
    if user.uid() == NO_ID {
        return invalid(format!("process.user.uid {NO_ID} is not a valid id"));
    }
    if user.gid() == NO_ID {
        return invalid(format!("process.user.gid {NO_ID} is not a valid id"));
    }
    if let Some(index) = user
        .additional_gids()
        .iter()
        .flatten()
        .position(|&g| g == NO_ID)
    {
        return invalid(format!(
            "process.user.additionalGids[{index}] {NO_ID} is not a valid id"
        ));
    }
    if let Some(umask) = user.umask() {
        if umask > 0o777 {
            return invalid(format!(
                "process.user.umask {umask:#o} has bits outside 0777"
            ));
        }
    }
    Ok(())
}

fn validate_oom_score_adj(process: &Process) -> Result<(), ProcessError> {
    match process.oom_score_adj() {
        Some(score) if !(-1000..=1000).contains(&score) => invalid(format!(
            "process.oomScoreAdj {score} is outside the range -1000..1000"
        )),
        _ => Ok(()),
    }
}

pub(crate) fn validate(process: &Process) -> Result<(), ProcessError> {
    validate_args(process)?;
    validate_cwd(process)?;
    validate_env(process)?;
    validate_rlimits(process)?;
    validate_user(process)?;
    validate_oom_score_adj(process)?;
    if let Some(scheduler) = process.scheduler() {
        validate_scheduler(scheduler)?;
    }
    if let Some(io) = process.io_priority() {
        validate_io_priority(io)?;
    }
    super::lsm::check_lsm(process)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({
            "user": {"uid": 0, "gid": 0},
            "cwd": "/",
            "args": ["sh"],
            "env": ["PATH=/bin"]
        })
    }

    fn with(mut value: Value, key: &str, field: Value) -> Value {
        value[key] = field;
        value
    }

    fn typed(value: &Value) -> Process {
        serde_json::from_value(value.clone()).expect("process json")
    }

    fn typed_error(value: Value) -> String {
        validate(&typed(&value)).unwrap_err().to_string()
    }

    fn json_error(value: Value) -> String {
        validate_json(&value).unwrap_err().to_string()
    }

    #[test]
    fn a_plain_process_passes() {
        assert!(validate(&typed(&base())).is_ok());
        assert!(validate_json(&base()).is_ok());
        assert!(validate_json(&Value::Null).is_ok());
    }

    #[test]
    fn unknown_capability_names_the_set() {
        let caps = json!({"bounding": ["CAP_CHOWN", "CAP_FOO"], "effective": ["CAP_CHOWN"]});
        assert_eq!(
            json_error(with(base(), "capabilities", caps)),
            "process.capabilities.bounding: unknown capability \"CAP_FOO\""
        );
        let caps = json!({"ambient": ["CAP_KILL", "NET_RAW"]});
        assert_eq!(
            json_error(with(base(), "capabilities", caps)),
            "process.capabilities.ambient: unknown capability \"NET_RAW\""
        );
        let caps = json!({"permitted": [7]});
        assert_eq!(
            json_error(with(base(), "capabilities", caps)),
            "process.capabilities.permitted[0]: expected a string"
        );
        let caps = json!({"bounding": ["CAP_BPF", "CAP_CHECKPOINT_RESTORE"], "effective": null});
        assert!(validate_json(&with(base(), "capabilities", caps)).is_ok());
    }

    #[test]
    fn unknown_and_duplicate_rlimit_types() {
        let rlimits =
            json!([{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1}, {"type": "RLIMIT_FOO"}]);
        assert_eq!(
            json_error(with(base(), "rlimits", rlimits)),
            "process.rlimits[1].type: unknown rlimit type \"RLIMIT_FOO\""
        );
        let rlimits = json!([
            {"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1},
            {"type": "RLIMIT_NOFILE", "soft": 2, "hard": 2}
        ]);
        let expected = "process.rlimits: rlimit type \"RLIMIT_NOFILE\" is listed more than once";
        assert_eq!(
            json_error(with(base(), "rlimits", rlimits.clone())),
            expected
        );
        assert_eq!(typed_error(with(base(), "rlimits", rlimits)), expected);
    }

    #[test]
    fn soft_above_hard_is_refused() {
        let rlimits = json!([{"type": "RLIMIT_CORE", "soft": 10, "hard": 5}]);
        assert_eq!(
            typed_error(with(base(), "rlimits", rlimits)),
            "process.rlimits: RLIMIT_CORE: soft limit 10 is greater than hard limit 5"
        );
    }

    #[test]
    fn args_must_be_present() {
        assert_eq!(
            typed_error(with(base(), "args", json!([]))),
            "process.args must not be empty"
        );
        let mut missing = base();
        missing.as_object_mut().expect("object").remove("args");
        assert_eq!(typed_error(missing), "process.args must not be empty");
        assert_eq!(
            typed_error(with(base(), "args", json!([""]))),
            "process.args[0] must not be empty"
        );
    }

    #[test]
    fn cwd_must_be_absolute() {
        assert_eq!(
            typed_error(with(base(), "cwd", json!("work"))),
            "process.cwd \"work\" is not an absolute path"
        );
        assert_eq!(
            typed_error(with(base(), "cwd", json!(""))),
            "process.cwd must not be empty"
        );
    }

    #[test]
    fn env_entries_need_a_name_and_equals() {
        assert_eq!(
            typed_error(with(base(), "env", json!(["A=1", "JUSTNAME"]))),
            "process.env: invalid environment variable \"JUSTNAME\": missing '='"
        );
        assert_eq!(
            typed_error(with(base(), "env", json!(["=value"]))),
            "process.env: invalid environment variable \"=value\": name cannot be empty"
        );
        assert!(check_env_entry("A=").is_ok());
        assert!(check_env_entry("A=b=c").is_ok());
        assert!(check_env_entry("A=\0").is_err());
    }

    #[test]
    fn user_ids_and_umask() {
        let user = json!({"uid": 4294967295u32, "gid": 0});
        assert_eq!(
            typed_error(with(base(), "user", user)),
            "process.user.uid 4294967295 is not a valid id"
        );
        let user = json!({"uid": 0, "gid": 0, "additionalGids": [1, 4294967295u32]});
        assert_eq!(
            typed_error(with(base(), "user", user)),
            "process.user.additionalGids[1] 4294967295 is not a valid id"
        );
        let user = json!({"uid": 0, "gid": 0, "umask": 512});
        assert_eq!(
            typed_error(with(base(), "user", user)),
            "process.user.umask 0o1000 has bits outside 0777"
        );
        let user = json!({"uid": 1000, "gid": 1000, "umask": 18, "additionalGids": [5]});
        assert!(validate(&typed(&with(base(), "user", user))).is_ok());
    }

    #[test]
    fn oom_score_adj_range() {
        assert_eq!(
            typed_error(with(base(), "oomScoreAdj", json!(1001))),
            "process.oomScoreAdj 1001 is outside the range -1000..1000"
        );
        assert!(validate(&typed(&with(base(), "oomScoreAdj", json!(-1000)))).is_ok());
    }

    #[test]
    fn scheduler_and_io_priority_are_checked() {
        let scheduler = json!({"policy": "SCHED_FIFO", "priority": 0});
        assert!(
            typed_error(with(base(), "scheduler", scheduler)).starts_with("process.scheduler: ")
        );
        let io = json!({"class": "IOPRIO_CLASS_RT", "priority": 9});
        assert!(typed_error(with(base(), "ioPriority", io)).starts_with("process.ioPriority"));
    }

    #[test]
    fn lsm_request_is_checked_against_the_host() {
        let process = typed(&with(base(), "apparmorProfile", json!("p")));
        assert_eq!(validate(&process).is_ok(), super::super::apparmor_enabled());
    }
}
