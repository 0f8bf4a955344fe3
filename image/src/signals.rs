//! Signal names as docker and berth take them: `SIGTERM`, `TERM` or `15`.

use nix::sys::signal::Signal;
use std::str::FromStr;

/// Parse a signal name or number.
pub fn parse(s: &str) -> Option<Signal> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).ok();
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse("SIGTERM"), Some(Signal::SIGTERM));
        assert_eq!(parse("quit"), Some(Signal::SIGQUIT));
        assert_eq!(parse("9"), Some(Signal::SIGKILL));
        assert_eq!(parse("SIGNOPE"), None);
        assert_eq!(parse("999"), None);
    }
}
