//! `dock images` output: a docker-like table (REPOSITORY TAG IMAGE ID CREATED SIZE) or one JSON
//! object per line with `--format json`, as `docker images --format json` prints.

use crate::reference::Reference;
use crate::store::images::StoredImage;
use serde::Serialize;
use std::time::{Duration, SystemTime};

/// One row.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageRow {
    /// Familiar repository name.
    pub repository: String,
    /// Tag, `<none>` for digest-only names.
    pub tag: String,
    /// Image ID: the config digest.
    #[serde(rename = "ID")]
    pub id: String,
    /// Manifest digest.
    pub digest: String,
    /// The config's `created`, as written there.
    pub created_at: String,
    /// Compressed size in bytes.
    pub size: u64,
}

impl ImageRow {
    /// A row for a stored image.
    pub fn new(image: &StoredImage, config: &serde_json::Value) -> ImageRow {
        let (repository, tag) = match Reference::parse(&image.named.name) {
            Ok(r) => (
                r.familiar_repository(),
                r.tag.unwrap_or_else(|| "<none>".into()),
            ),
            Err(_) => (image.named.name.clone(), "<none>".into()),
        };
        ImageRow {
            repository,
            tag,
            id: image.manifest.config.digest.to_string(),
            digest: image.manifest_desc.digest.to_string(),
            created_at: config["created"].as_str().unwrap_or("").to_string(),
            size: image.size(),
        }
    }
}

/// Decimal sizes as docker prints them (`7.8MB`).
pub fn human_size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i < units.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        return format!("{bytes}B");
    }
    // Three significant digits, as docker's HumanSize prints them.
    let text = if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    format!("{text}{}", units[i])
}

/// `N units ago` for an RFC 3339 time, or the text itself when it does not parse.
pub fn human_age(created: &str, now: SystemTime) -> String {
    let Ok(t) = humantime::parse_rfc3339_weak(created.trim_end_matches('Z')) else {
        return if created.is_empty() {
            "N/A".into()
        } else {
            created.into()
        };
    };
    let secs = now.duration_since(t).unwrap_or(Duration::ZERO).as_secs();
    let (n, unit) = match secs {
        s if s < 60 => return "Less than a minute ago".into(),
        s if s < 3600 => (s / 60, "minute"),
        s if s < 86400 => (s / 3600, "hour"),
        s if s < 86400 * 14 => (s / 86400, "day"),
        s if s < 86400 * 60 => (s / (86400 * 7), "week"),
        s if s < 86400 * 365 * 2 => (s / (86400 * 30), "month"),
        s => (s / (86400 * 365), "year"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

/// The table.
pub fn table(rows: &[ImageRow], now: SystemTime) -> String {
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            [
                r.repository.clone(),
                r.tag.clone(),
                r.id.split(':')
                    .nth(1)
                    .unwrap_or(&r.id)
                    .chars()
                    .take(12)
                    .collect(),
                human_age(&r.created_at, now),
                human_size(r.size),
            ]
        })
        .collect();
    let header = ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"];
    let mut widths = header.map(str::len);
    for c in &cells {
        for (w, v) in widths.iter_mut().zip(c) {
            *w = (*w).max(v.len());
        }
    }
    let line = |c: [&str; 5]| {
        let mut s = String::new();
        for (i, v) in c.iter().enumerate() {
            if i == 4 {
                s.push_str(v);
            } else {
                s.push_str(&format!("{v:<w$}   ", w = widths[i]));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header);
    for c in &cells {
        out.push_str(&line([&c[0], &c[1], &c[2], &c[3], &c[4]]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_docker() {
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(7_800_000), "7.8MB");
        assert_eq!(human_size(1_234_567), "1.23MB");
        assert_eq!(human_size(123_456_789), "123MB");
        assert_eq!(human_size(1_000), "1kB");
        assert_eq!(human_size(50_008_600), "50MB");
        assert_eq!(human_size(1_235_500), "1.24MB");
    }

    #[test]
    fn ages() {
        let now = humantime::parse_rfc3339("2024-01-10T00:00:00Z").unwrap();
        assert_eq!(human_age("2024-01-08T00:00:00Z", now), "2 days ago");
        assert_eq!(
            human_age("2024-01-09T22:59:59.123456789Z", now),
            "1 hour ago"
        );
        assert_eq!(human_age("", now), "N/A");
        assert_eq!(human_age("junk", now), "junk");
    }

    #[test]
    fn table_aligns_columns() {
        let rows = vec![ImageRow {
            repository: "alpine".into(),
            tag: "latest".into(),
            id: format!("sha256:{}", "ab".repeat(32)),
            digest: String::new(),
            created_at: String::new(),
            size: 2_000,
        }];
        let t = table(&rows, SystemTime::now());
        let lines: Vec<&str> = t.lines().collect();
        assert!(
            lines[0].starts_with("REPOSITORY   TAG      IMAGE ID       CREATED   SIZE"),
            "{t}"
        );
        assert!(
            lines[1].starts_with("alpine       latest   abababababab   N/A       2kB"),
            "{t}"
        );
    }
}
