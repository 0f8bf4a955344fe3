//! Container ids and names as docker makes them: a 64-hex-digit random id (12 digits shown in
//! tables) and, when `--name` is not given, a random `adjective_noun` name.

use std::io::Read;

/// Characters a container name may hold, as docker allows: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn random_bytes<const N: usize>() -> std::io::Result<[u8; N]> {
    let mut buf = [0u8; N];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf)
}

/// A fresh 64-hex-digit id. Like docker, an id that is all digits is drawn again (it could be
/// mistaken for a number in a prefix match).
pub fn new_id() -> std::io::Result<String> {
    loop {
        let id: String = random_bytes::<32>()?
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if !id[..12].bytes().all(|b| b.is_ascii_digit()) {
            return Ok(id);
        }
    }
}

/// The 12-digit form shown in tables and used as the hostname.
pub fn short_id(id: &str) -> &str {
    &id[..id.len().min(12)]
}

const ADJECTIVES: [&str; 24] = [
    "amber", "brave", "calm", "deft", "eager", "fond", "gentle", "hardy", "keen", "lively",
    "merry", "nimble", "patient", "quiet", "rapid", "steady", "tidy", "upbeat", "vivid", "witty",
    "zesty", "bold", "clever", "sunny",
];
const NOUNS: [&str; 24] = [
    "anchor",
    "buoy",
    "cargo",
    "dinghy",
    "estuary",
    "ferry",
    "galley",
    "harbor",
    "island",
    "jetty",
    "keel",
    "lagoon",
    "mooring",
    "narwhal",
    "otter",
    "pier",
    "quay",
    "rudder",
    "schooner",
    "tugboat",
    "voyage",
    "wharf",
    "yacht",
    "lighthouse",
];

/// A random `adjective_noun` name, with a number appended from the `attempt`th try on (the
/// caller retries when it is taken).
pub fn random_name(attempt: u32) -> std::io::Result<String> {
    let [a, b, n] = random_bytes::<3>()?;
    let base = format!(
        "{}_{}",
        ADJECTIVES[a as usize % ADJECTIVES.len()],
        NOUNS[b as usize % NOUNS.len()]
    );
    Ok(if attempt == 0 {
        base
    } else {
        format!("{base}{}", n as u32 + attempt)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_64_hex_and_names_valid() {
        let id = new_id().unwrap();
        assert_eq!(id.len(), 64);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(short_id(&id).len(), 12);
        for attempt in 0..3 {
            assert!(valid_name(&random_name(attempt).unwrap()));
        }
    }

    #[test]
    fn name_rules_match_docker() {
        assert!(valid_name("web-1.a_b"));
        assert!(!valid_name(""));
        assert!(!valid_name("-x"));
        assert!(!valid_name("a/b"));
        assert!(!valid_name("a b"));
    }
}
