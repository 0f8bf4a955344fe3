//! CPU scheduling and I/O priority (runtime-spec 1.2 `process.scheduler` and
//! `process.ioPriority`): validated up front, applied in the init with sched_setattr(2)
//! and ioprio_set(2). Both are inherited across exec.

use nix::errno::Errno;
use oci_spec::runtime::{
    IOPriorityClass, LinuxIOPriority, LinuxSchedulerFlag, LinuxSchedulerPolicy, Scheduler,
};

use super::ProcessError;

/// `struct sched_attr` as of SCHED_ATTR_SIZE_VER1 (56 bytes, with utilization clamps).
#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
    util_min: u32,
    util_max: u32,
}

fn policy_number(policy: LinuxSchedulerPolicy) -> u32 {
    match policy {
        LinuxSchedulerPolicy::SchedOther => 0,
        LinuxSchedulerPolicy::SchedFifo => 1,
        LinuxSchedulerPolicy::SchedRr => 2,
        LinuxSchedulerPolicy::SchedBatch => 3,
        LinuxSchedulerPolicy::SchedIso => 4,
        LinuxSchedulerPolicy::SchedIdle => 5,
        LinuxSchedulerPolicy::SchedDeadline => 6,
    }
}

fn flag_bit(flag: LinuxSchedulerFlag) -> u64 {
    match flag {
        LinuxSchedulerFlag::SchedResetOnFork => 0x01,
        LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
        LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
        LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
        LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
        LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
        LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
    }
}

fn is_realtime(policy: LinuxSchedulerPolicy) -> bool {
    matches!(
        policy,
        LinuxSchedulerPolicy::SchedFifo | LinuxSchedulerPolicy::SchedRr
    )
}

/// Checks `process.scheduler`: nice in -20..19, priority 1..99 for SCHED_FIFO/SCHED_RR
/// and 0 otherwise, SCHED_ISO refused (Linux has none), and for SCHED_DEADLINE a runtime
/// no longer than the deadline, which is no longer than the period (0 = the deadline).
pub(crate) fn validate_scheduler(scheduler: &Scheduler) -> Result<(), ProcessError> {
    let policy = *scheduler.policy();
    let invalid = |msg: String| Err(ProcessError::Invalid(format!("process.scheduler: {msg}")));
    if policy == LinuxSchedulerPolicy::SchedIso {
        return invalid("policy SCHED_ISO is not supported by Linux".into());
    }
    if let Some(nice) = *scheduler.nice() {
        if !(-20..=19).contains(&nice) {
            return invalid(format!("nice {nice} is outside the range -20..19"));
        }
    }
    let priority = scheduler.priority().unwrap_or(0);
    if is_realtime(policy) && !(1..=99).contains(&priority) {
        return invalid(format!(
            "priority {priority} is outside the range 1..99 for {policy}"
        ));
    }
    if !is_realtime(policy) && priority != 0 {
        return invalid(format!("priority must be 0 for {policy}, got {priority}"));
    }
    if policy == LinuxSchedulerPolicy::SchedDeadline {
        let runtime = scheduler.runtime().unwrap_or(0);
        let deadline = scheduler.deadline().unwrap_or(0);
        let period = scheduler.period().unwrap_or(0);
        if runtime == 0 || runtime > deadline || (period != 0 && deadline > period) {
            return invalid(format!(
                "SCHED_DEADLINE needs 0 < runtime <= deadline <= period, got runtime {runtime}, \
                 deadline {deadline}, period {period}"
            ));
        }
    }
    Ok(())
}

/// Applies `process.scheduler` to the calling thread (inherited by the exec'd program).
pub fn set_scheduler(scheduler: Option<&Scheduler>) -> Result<(), ProcessError> {
    let Some(scheduler) = scheduler else {
        return Ok(());
    };
    let policy = *scheduler.policy();
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy: policy_number(policy),
        flags: scheduler
            .flags()
            .iter()
            .flatten()
            .fold(0, |bits, flag| bits | flag_bit(*flag)),
        nice: scheduler.nice().unwrap_or(0),
        priority: scheduler.priority().unwrap_or(0).max(0) as u32,
        runtime: scheduler.runtime().unwrap_or(0),
        deadline: scheduler.deadline().unwrap_or(0),
        period: scheduler.period().unwrap_or(0),
        ..SchedAttr::default()
    };
    // SAFETY: `attr` is a valid sched_attr whose size field matches its layout; the
    // kernel only reads it.
    let rc = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    if rc != 0 {
        return Err(ProcessError::os(
            format!("error setting scheduler policy {policy}"),
            Errno::last(),
        ));
    }
    Ok(())
}

const IOPRIO_CLASS_SHIFT: u32 = 13;
const IOPRIO_WHO_PROCESS: libc::c_int = 1;

fn class_number(class: IOPriorityClass) -> u32 {
    match class {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    }
}

/// Checks `process.ioPriority`: priority in 0..7.
pub(crate) fn validate_io_priority(io: &LinuxIOPriority) -> Result<(), ProcessError> {
    if !(0..=7).contains(&io.priority()) {
        return Err(ProcessError::Invalid(format!(
            "process.ioPriority.priority {} is outside the range 0..7",
            io.priority()
        )));
    }
    Ok(())
}

/// The ioprio value for `io` (class in the top bits, level in the low ones).
fn ioprio_value(io: &LinuxIOPriority) -> u32 {
    (class_number(io.class()) << IOPRIO_CLASS_SHIFT) | (io.priority().clamp(0, 7) as u32)
}

/// Applies `process.ioPriority` to the calling process.
pub fn set_io_priority(io: Option<&LinuxIOPriority>) -> Result<(), ProcessError> {
    let Some(io) = io else {
        return Ok(());
    };
    // SAFETY: integer arguments only.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_ioprio_set,
            IOPRIO_WHO_PROCESS,
            0,
            ioprio_value(io),
        )
    };
    if rc != 0 {
        return Err(ProcessError::os(
            format!("error setting I/O priority {}", io.class()),
            Errno::last(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_child;
    use super::*;

    fn scheduler(json: &str) -> Scheduler {
        serde_json::from_str(json).expect("scheduler json")
    }

    fn io_priority(json: &str) -> LinuxIOPriority {
        serde_json::from_str(json).expect("ioPriority json")
    }

    #[test]
    fn scheduler_validation_names_the_problem() {
        let cases = [
            (
                r#"{"policy":"SCHED_OTHER","nice":25}"#,
                "nice 25 is outside the range -20..19",
            ),
            (
                r#"{"policy":"SCHED_FIFO"}"#,
                "priority 0 is outside the range 1..99 for SCHED_FIFO",
            ),
            (
                r#"{"policy":"SCHED_BATCH","priority":3}"#,
                "priority must be 0 for SCHED_BATCH, got 3",
            ),
            (
                r#"{"policy":"SCHED_ISO"}"#,
                "policy SCHED_ISO is not supported by Linux",
            ),
            (
                r#"{"policy":"SCHED_DEADLINE","runtime":20,"deadline":10,"period":30}"#,
                "SCHED_DEADLINE needs",
            ),
        ];
        for (json, expected) in cases {
            let err = validate_scheduler(&scheduler(json))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("process.scheduler: "), "{err}");
            assert!(err.contains(expected), "{json}: {err}");
        }
        for json in [
            r#"{"policy":"SCHED_RR","priority":10}"#,
            r#"{"policy":"SCHED_IDLE","nice":-20}"#,
            r#"{"policy":"SCHED_DEADLINE","runtime":10,"deadline":20,"period":0}"#,
        ] {
            assert!(validate_scheduler(&scheduler(json)).is_ok(), "{json}");
        }
    }

    #[test]
    fn io_priority_validation_and_encoding() {
        let idle = io_priority(r#"{"class":"IOPRIO_CLASS_IDLE","priority":7}"#);
        assert!(validate_io_priority(&idle).is_ok());
        assert_eq!(ioprio_value(&idle), (3 << 13) | 7);
        let err = validate_io_priority(&io_priority(r#"{"class":"IOPRIO_CLASS_BE","priority":8}"#))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "process.ioPriority.priority 8 is outside the range 0..7"
        );
    }

    #[test]
    fn applies_batch_policy_with_nice_in_child() {
        let wanted = scheduler(r#"{"policy":"SCHED_BATCH","nice":7}"#);
        let report = test_child::run(move || {
            set_scheduler(Some(&wanted)).map_err(|e| e.to_string())?;
            // SAFETY: plain queries about the calling process.
            let policy = unsafe { libc::sched_getscheduler(0) };
            // SAFETY: as above.
            let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
            Ok(format!("{policy} {nice}"))
        });
        assert_eq!(report, Ok(format!("{} 7", libc::SCHED_BATCH)));
    }

    #[test]
    fn applies_idle_io_priority_in_child() {
        let wanted = io_priority(r#"{"class":"IOPRIO_CLASS_IDLE","priority":0}"#);
        let report = test_child::run(move || {
            set_io_priority(Some(&wanted)).map_err(|e| e.to_string())?;
            // SAFETY: integer arguments only.
            let value = unsafe { libc::syscall(libc::SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0) };
            Ok(value.to_string())
        });
        assert_eq!(report, Ok((3 << 13).to_string()));
    }

    #[test]
    fn nothing_configured_changes_nothing() {
        assert!(set_scheduler(None).is_ok());
        assert!(set_io_priority(None).is_ok());
    }
}
