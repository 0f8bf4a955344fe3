//! Parses `linux.seccomp` from raw JSON, reporting bad enum strings and types with the path
//! of the field (serde alone would only say "unknown variant" without saying where).

use crate::error::{Result, SeccompError};
use oci_spec::runtime::{
    Arch as OciArch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

const ROOT: &str = "linux.seccomp";

/// Checks that `v` (if present) deserialises as `T`, else names `field`.
fn check<T: DeserializeOwned>(v: Option<&Value>, field: &str, what: &str) -> Result<()> {
    let Some(v) = v else { return Ok(()) };
    serde_json::from_value::<T>(v.clone())
        .map(|_| ())
        .map_err(|_| SeccompError::field(field, format!("unknown {what} {v}")))
}

fn array<'a>(v: Option<&'a Value>, field: &str) -> Result<&'a [Value]> {
    match v {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(other) => Err(SeccompError::field(
            field,
            format!("expected an array, got {other}"),
        )),
    }
}

/// Validates and deserialises the JSON value of `linux.seccomp`.
pub fn parse_profile(value: &Value) -> Result<LinuxSeccomp> {
    let obj = value
        .as_object()
        .ok_or_else(|| SeccompError::field(ROOT, "expected an object"))?;
    check::<LinuxSeccompAction>(
        obj.get("defaultAction"),
        &format!("{ROOT}.defaultAction"),
        "action",
    )?;
    for (i, a) in array(obj.get("architectures"), &format!("{ROOT}.architectures"))?
        .iter()
        .enumerate()
    {
        check::<OciArch>(
            Some(a),
            &format!("{ROOT}.architectures[{i}]"),
            "architecture",
        )?;
    }
    for (i, f) in array(obj.get("flags"), &format!("{ROOT}.flags"))?
        .iter()
        .enumerate()
    {
        check::<LinuxSeccompFilterFlag>(Some(f), &format!("{ROOT}.flags[{i}]"), "flag")?;
    }
    for (i, sc) in array(obj.get("syscalls"), &format!("{ROOT}.syscalls"))?
        .iter()
        .enumerate()
    {
        let sp = format!("{ROOT}.syscalls[{i}]");
        check::<LinuxSeccompAction>(sc.get("action"), &format!("{sp}.action"), "action")?;
        for (j, arg) in array(sc.get("args"), &format!("{sp}.args"))?
            .iter()
            .enumerate()
        {
            check::<LinuxSeccompOperator>(
                arg.get("op"),
                &format!("{sp}.args[{j}].op"),
                "operator",
            )?;
        }
    }
    serde_json::from_value(value.clone()).map_err(|e| SeccompError::field(ROOT, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_action_names_the_field() {
        let v = json!({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["read"],"action":"SCMP_ACT_ALLOW"},
            {"names":["read"],"action":"SCMP_ACT_ALLOW"},
            {"names":["read"],"action":"SCMP_ACT_ALLOW"},
            {"names":["read"],"action":"SCMP_ACT_FOO"}]});
        assert_eq!(
            parse_profile(&v).unwrap_err().to_string(),
            r#"linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_FOO""#
        );
    }

    #[test]
    fn bad_op_arch_flag_default() {
        let cases = [
            (
                json!({"defaultAction":"NOPE"}),
                "linux.seccomp.defaultAction",
            ),
            (
                json!({"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86","SCMP_ARCH_Z80"]}),
                "linux.seccomp.architectures[1]",
            ),
            (
                json!({"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_NOPE"]}),
                "linux.seccomp.flags[0]",
            ),
            (
                json!({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_XX"}]}]}),
                "linux.seccomp.syscalls[0].args[0].op",
            ),
            (
                json!({"defaultAction":"SCMP_ACT_ALLOW","syscalls":{}}),
                "linux.seccomp.syscalls",
            ),
        ];
        for (v, field) in cases {
            let e = parse_profile(&v).unwrap_err().to_string();
            assert!(e.starts_with(&format!("{field}:")), "{e}");
        }
    }

    #[test]
    fn good_profile_parses() {
        let v = json!({"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,
            "architectures":["SCMP_ARCH_X86_64"],
            "syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW",
                "args":[{"index":0,"value":1,"valueTwo":2,"op":"SCMP_CMP_MASKED_EQ"}]}]});
        let p = parse_profile(&v).unwrap();
        assert_eq!(p.default_errno_ret(), Some(1));
    }
}
