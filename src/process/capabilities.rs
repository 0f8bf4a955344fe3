//! Capability sets: maps config names to kernel capability numbers and sets the bounding,
//! effective, permitted, inheritable and ambient sets of the calling thread.

use std::str::FromStr;

use nix::errno::Errno;
use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities};

use super::ProcessError;

/// `_LINUX_CAPABILITY_VERSION_3`: 64-bit sets in two 32-bit words.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The three capset(2) sets as bit masks (bit N = capability N).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CapState {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
}

/// The kernel's number for a capability (CAP_CHOWN = 0, ...), via the `caps` crate's table.
pub fn capability_index(cap: &Capability) -> Option<u8> {
    caps::Capability::from_str(&format!("CAP_{cap}"))
        .ok()
        .map(|c| c.index())
}

/// The `CAP_*` name of capability number `index`.
pub(crate) fn capability_name(index: u8) -> String {
    caps::all()
        .into_iter()
        .find(|c| c.index() == index)
        .map(|c| c.to_string())
        .unwrap_or_else(|| format!("capability {index}"))
}

/// Every capability name berth knows, in kernel order (for `berth features`).
pub fn known_capability_names() -> Vec<String> {
    let mut all: Vec<caps::Capability> = caps::all().into_iter().collect();
    all.sort_by_key(|cap| cap.index());
    all.into_iter().map(|cap| cap.to_string()).collect()
}

/// Whether `name` is a capability name berth knows ("CAP_SYS_ADMIN").
pub(crate) fn is_known_name(name: &str) -> bool {
    caps::Capability::from_str(name).is_ok()
}

fn bounding_has(index: u8) -> Result<bool, Errno> {
    // SAFETY: prctl with integer arguments only.
    let rc = unsafe { libc::prctl(libc::PR_CAPBSET_READ, libc::c_ulong::from(index), 0, 0, 0) };
    if rc < 0 {
        Err(Errno::last())
    } else {
        Ok(rc == 1)
    }
}

/// The highest capability number this kernel knows (`/proc/sys/kernel/cap_last_cap`),
/// found by probing the bounding set so it works without /proc.
pub fn last_cap() -> u8 {
    let highest_known = caps::all().iter().map(|c| c.index()).max().unwrap_or(40);
    let mut last = highest_known;
    if bounding_has(last) == Err(Errno::EINVAL) {
        while last > 0 && bounding_has(last) == Err(Errno::EINVAL) {
            last -= 1;
        }
    } else {
        while last < 63 && bounding_has(last + 1) != Err(Errno::EINVAL) {
            last += 1;
        }
    }
    last
}

/// A set as a bit mask, leaving out capabilities above `last`.
fn mask(set: Option<&Capabilities>, last: u8) -> u64 {
    set.into_iter()
        .flatten()
        .filter_map(capability_index)
        .filter(|&index| index <= last)
        .fold(0, |mask, index| mask | (1u64 << index))
}

pub(crate) fn capget() -> Result<CapState, Errno> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and a two-element data array of the layout the kernel expects for
    // version 3 are valid for the duration of the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut header as *mut CapHeader,
            data.as_mut_ptr(),
        )
    };
    if rc != 0 {
        return Err(Errno::last());
    }
    let join = |low: u32, high: u32| u64::from(low) | (u64::from(high) << 32);
    Ok(CapState {
        effective: join(data[0].effective, data[1].effective),
        permitted: join(data[0].permitted, data[1].permitted),
        inheritable: join(data[0].inheritable, data[1].inheritable),
    })
}

pub(crate) fn capset(state: CapState) -> Result<(), Errno> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let split = |set: u64| (set as u32, (set >> 32) as u32);
    let (e0, e1) = split(state.effective);
    let (p0, p1) = split(state.permitted);
    let (i0, i1) = split(state.inheritable);
    let data = [
        CapData {
            effective: e0,
            permitted: p0,
            inheritable: i0,
        },
        CapData {
            effective: e1,
            permitted: p1,
            inheritable: i1,
        },
    ];
    // SAFETY: header and data are valid, correctly laid out for version 3, and only read.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_capset,
            &mut header as *mut CapHeader,
            data.as_ptr(),
        )
    };
    if rc != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

fn prctl_ambient(op: libc::c_int, index: u8) -> Result<(), Errno> {
    // SAFETY: prctl with integer arguments only.
    let rc = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            op as libc::c_ulong,
            libc::c_ulong::from(index),
            0,
            0,
        )
    };
    if rc != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// The five sets as masks; `None` means every set empty.
fn wanted_sets(caps: Option<&LinuxCapabilities>, last: u8) -> (u64, CapState, u64) {
    match caps {
        None => (0, CapState::default(), 0),
        Some(caps) => (
            mask(caps.bounding().as_ref(), last),
            CapState {
                effective: mask(caps.effective().as_ref(), last),
                permitted: mask(caps.permitted().as_ref(), last),
                inheritable: mask(caps.inheritable().as_ref(), last),
            },
            mask(caps.ambient().as_ref(), last),
        ),
    }
}

/// Sets the five sets; returns the `CAP_*` names of ambient capabilities the kernel
/// refused to raise (outside permitted ∩ inheritable), which runc logs as a warning.
pub fn set_capabilities_report(
    caps: Option<&LinuxCapabilities>,
) -> Result<Vec<String>, ProcessError> {
    let last = last_cap();
    let (bounding, wanted, ambient) = wanted_sets(caps, last);

    // After a uid change with PR_SET_KEEPCAPS the effective set is empty; make it equal to
    // the permitted set again so CAP_SETPCAP is usable for the bounding-set drops below.
    let current = capget().map_err(|e| ProcessError::os("capget", e))?;
    if current.effective != current.permitted {
        capset(CapState {
            effective: current.permitted,
            ..current
        })
        .map_err(|e| ProcessError::os("capset", e))?;
    }

    for index in 0..=last {
        if bounding & (1u64 << index) != 0 {
            continue;
        }
        // Dropping an absent capability succeeds (with CAP_SETPCAP), so drop first and ask
        // only when the drop is refused: one syscall per capability instead of two.
        // SAFETY: prctl with integer arguments only.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(index), 0, 0, 0) };
        if rc != 0 {
            let refused = Errno::last();
            let present = bounding_has(index).map_err(|e| {
                ProcessError::os(
                    format!("prctl(PR_CAPBSET_READ, {})", capability_name(index)),
                    e,
                )
            })?;
            if present {
                return Err(ProcessError::os(
                    format!("prctl(PR_CAPBSET_DROP, {})", capability_name(index)),
                    refused,
                ));
            }
        }
    }

    capset(wanted).map_err(|e| ProcessError::os("capset", e))?;

    prctl_ambient(libc::PR_CAP_AMBIENT_CLEAR_ALL, 0)
        .map_err(|e| ProcessError::os("prctl(PR_CAP_AMBIENT_CLEAR_ALL)", e))?;
    // runc ignores a refused ambient raise (a cap outside permitted ∩ inheritable), so
    // configs that list one still start; do the same and report the names.
    let refused = (0..=last)
        .filter(|&index| ambient & (1u64 << index) != 0)
        .filter(|&index| prctl_ambient(libc::PR_CAP_AMBIENT_RAISE, index).is_err())
        .map(capability_name)
        .collect();
    Ok(refused)
}

#[cfg(test)]
mod tests {
    use super::super::test_child;
    use super::*;

    fn caps_from_json(json: &str) -> LinuxCapabilities {
        serde_json::from_str(json).expect("capabilities json")
    }

    #[test]
    fn every_caps_crate_name_maps_to_the_same_index() {
        for cap in caps::all() {
            let oci: Capability =
                serde_json::from_value(serde_json::Value::String(cap.to_string()))
                    .expect("oci name");
            assert_eq!(capability_index(&oci), Some(cap.index()), "{cap}");
            assert_eq!(capability_name(cap.index()), cap.to_string());
        }
    }

    #[test]
    fn known_names_are_in_kernel_order() {
        let names = known_capability_names();
        assert_eq!(names.first().map(String::as_str), Some("CAP_CHOWN"));
        assert_eq!(names.get(21).map(String::as_str), Some("CAP_SYS_ADMIN"));
        assert_eq!(names.len(), usize::from(last_cap()) + 1);
    }

    #[test]
    fn names_are_known_or_not() {
        assert!(is_known_name("CAP_SYS_ADMIN"));
        assert!(is_known_name("CAP_CHECKPOINT_RESTORE"));
        assert!(!is_known_name("CAP_FOO"));
        assert!(!is_known_name("SYS_ADMIN"));
    }

    #[test]
    fn last_cap_matches_proc() {
        let proc_value: u8 = crate::small_file::read_to_string("/proc/sys/kernel/cap_last_cap")
            .expect("cap_last_cap")
            .trim()
            .parse()
            .expect("number");
        assert_eq!(last_cap(), proc_value);
    }

    #[test]
    fn masks_skip_unknown_to_kernel() {
        let caps =
            caps_from_json(r#"{"bounding":["CAP_CHOWN","CAP_KILL","CAP_CHECKPOINT_RESTORE"]}"#);
        let (bounding, state, ambient) = wanted_sets(Some(&caps), 39);
        assert_eq!(bounding, (1 << 0) | (1 << 5));
        assert_eq!(state, CapState::default());
        assert_eq!(ambient, 0);
        let (bounding, _, _) = wanted_sets(Some(&caps), 40);
        assert_eq!(bounding, (1 << 0) | (1 << 5) | (1 << 40));
    }

    fn hex(mask: u64) -> String {
        format!("{mask:016x}")
    }

    #[test]
    fn sets_exact_sets_as_root() {
        let caps = caps_from_json(
            r#"{"bounding":["CAP_CHOWN","CAP_KILL","CAP_NET_BIND_SERVICE","CAP_SETPCAP"],
                "effective":["CAP_CHOWN","CAP_KILL"],
                "permitted":["CAP_CHOWN","CAP_KILL","CAP_NET_BIND_SERVICE"],
                "inheritable":["CAP_KILL","CAP_NET_BIND_SERVICE"],
                "ambient":["CAP_NET_BIND_SERVICE","CAP_CHOWN"]}"#,
        );
        let report = test_child::run(move || {
            let refused = set_capabilities_report(Some(&caps)).map_err(|e| e.to_string())?;
            let fields = ["CapBnd", "CapEff", "CapPrm", "CapInh", "CapAmb"];
            let values: Result<Vec<String>, String> =
                fields.iter().map(|f| test_child::status_field(f)).collect();
            Ok(format!("{} {}", values?.join(" "), refused.join(",")))
        });
        let expected = [
            hex((1 << 0) | (1 << 5) | (1 << 10) | (1 << 8)),
            hex((1 << 0) | (1 << 5)),
            hex((1 << 0) | (1 << 5) | (1 << 10)),
            hex((1 << 5) | (1 << 10)),
            // CAP_CHOWN is not inheritable, so its ambient raise is refused and ignored.
            hex(1 << 10),
            "CAP_CHOWN".to_string(),
        ]
        .join(" ");
        assert_eq!(report, Ok(expected));
    }

    #[test]
    fn none_drops_everything() {
        let report = test_child::run(|| {
            set_capabilities_report(None).map_err(|e| e.to_string())?;
            let fields = ["CapBnd", "CapEff", "CapPrm", "CapInh", "CapAmb"];
            let values: Result<Vec<String>, String> =
                fields.iter().map(|f| test_child::status_field(f)).collect();
            Ok(values?.join(" "))
        });
        assert_eq!(report, Ok(vec![hex(0); 5].join(" ")));
    }

    #[test]
    fn effective_outside_permitted_fails() {
        let caps = caps_from_json(
            r#"{"bounding":["CAP_CHOWN","CAP_KILL"],"effective":["CAP_KILL"],"permitted":["CAP_CHOWN"]}"#,
        );
        let report = test_child::run(move || {
            set_capabilities_report(Some(&caps)).map_err(|e| e.to_string())?;
            Ok("set".into())
        });
        assert_eq!(report, Err("capset: operation not permitted".to_string()));
    }
}
