//! `ps`: the processes of a container, found through its cgroup. `--format json` prints
//! the host pids as a JSON array; `table` runs the host's `ps` (default `-ef`) and keeps
//! its header plus the lines whose PID column names a process in the cgroup, as runc does.

use crate::error::{Error, Result};
use crate::state::Root;

/// Host pids of every process in container `id`'s cgroup.
pub fn pids(root: &Root, id: &str) -> Result<Vec<i32>> {
    let st = root.load(id)?;
    let cg = st
        .cgroup
        .as_ref()
        .ok_or_else(|| Error::Other(format!("container {id} has no cgroup")))?;
    let mut pids = cg.pids()?;
    pids.sort_unstable();
    Ok(pids)
}

/// `ps --format table ID [ps args]`: the host's `ps` output filtered to the container.
pub fn table(root: &Root, id: &str, ps_args: &[String]) -> Result<String> {
    let pids = pids(root, id)?;
    let args: Vec<String> = if ps_args.is_empty() {
        vec!["-ef".to_string()]
    } else {
        ps_args.to_vec()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .map_err(|e| Error::io("ps", e))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(Error::Other(format!(
            "ps {}: {} {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    filter_lines(&text, &pids)
}

/// Keeps `ps` output's header and the lines whose PID column is in `pids`.
pub fn filter_lines(ps_output: &str, pids: &[i32]) -> Result<String> {
    let mut lines = ps_output.lines();
    let header = lines
        .next()
        .ok_or_else(|| Error::Other("ps printed nothing".into()))?;
    let column = header
        .split_whitespace()
        .position(|f| f == "PID")
        .ok_or_else(|| Error::Other("couldn't find PID field in ps output".into()))?;
    let mut out = String::from(header);
    out.push('\n');
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let pid = line
            .split_whitespace()
            .nth(column)
            .and_then(|f| f.parse::<i32>().ok());
        match pid {
            Some(p) if pids.contains(&p) => {
                out.push_str(line);
                out.push('\n');
            }
            Some(_) => {}
            None => {
                return Err(Error::Other(format!(
                    "unexpected pid field in ps output line {line:?}"
                )))
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EF: &str = "UID          PID    PPID  C STIME TTY          TIME CMD\n\
root           1       0  0 08:00 ?        00:00:01 /sbin/init\n\
root         412       1  0 08:01 ?        00:00:00 sleep 1000\n\
root        4120     412  0 08:01 ?        00:00:00 sh -c echo 1 2 412\n\n";

    #[test]
    fn keeps_header_and_cgroup_lines() {
        let out = filter_lines(EF, &[412]).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert!(lines[0].starts_with("UID"));
        assert!(lines[1].contains("sleep 1000"));
        let all = filter_lines(EF, &[1, 412, 4120]).unwrap();
        assert_eq!(all.lines().count(), 4);
        assert_eq!(filter_lines(EF, &[]).unwrap().lines().count(), 1);
    }

    #[test]
    fn pid_column_found_anywhere() {
        let text = "CMD   PID\nsleep 7\nsh 8\n";
        assert_eq!(filter_lines(text, &[8]).unwrap(), "CMD   PID\nsh 8\n");
    }

    #[test]
    fn header_without_pid_is_an_error() {
        let err = filter_lines("USER COMMAND\nroot x\n", &[1]).unwrap_err();
        assert!(err.to_string().contains("PID field"), "{err}");
        assert!(filter_lines("", &[1]).is_err());
        assert!(filter_lines("PID CMD\nabc x\n", &[1]).is_err());
    }
}
