//! OCI whiteout names (image-spec, "Whiteouts"): `.wh.NAME` hides NAME of the lower layers,
//! `.wh..wh..opq` hides every lower-layer child of its directory. Other `.wh..wh.` names are
//! AUFS bookkeeping (hardlink farms) and are ignored, as docker does.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

const PREFIX: &[u8] = b".wh.";
const META_PREFIX: &[u8] = b".wh..wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";

/// What a file name means as a whiteout.
#[derive(Debug, PartialEq, Eq)]
pub enum Whiteout<'a> {
    /// Not a whiteout: an ordinary entry.
    None,
    /// Hide the named sibling.
    Name(&'a OsStr),
    /// Hide the lower layers' children of the directory.
    Opaque,
    /// AUFS metadata, skipped.
    AufsMeta,
    /// A whiteout naming something it cannot (``, `.`, `..`).
    Invalid,
}

/// Classify the last component of an entry's name.
pub fn classify(name: &OsStr) -> Whiteout<'_> {
    let b = name.as_bytes();
    if b == OPAQUE {
        Whiteout::Opaque
    } else if b.starts_with(META_PREFIX) {
        Whiteout::AufsMeta
    } else if let Some(rest) = b.strip_prefix(PREFIX) {
        match rest {
            b"" | b"." | b".." => Whiteout::Invalid,
            r => Whiteout::Name(OsStr::from_bytes(r)),
        }
    } else {
        Whiteout::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(classify(OsStr::new("passwd")), Whiteout::None);
        assert_eq!(
            classify(OsStr::new(".wh.passwd")),
            Whiteout::Name(OsStr::new("passwd"))
        );
        assert_eq!(classify(OsStr::new(".wh..wh..opq")), Whiteout::Opaque);
        assert_eq!(classify(OsStr::new(".wh..wh.plnk")), Whiteout::AufsMeta);
        assert_eq!(classify(OsStr::new(".wh...")), Whiteout::Invalid);
        assert_eq!(classify(OsStr::new(".wh.")), Whiteout::Invalid);
        assert_eq!(classify(OsStr::new(".wh..")), Whiteout::Invalid);
        assert_eq!(
            classify(OsStr::new(".wh..hidden")),
            Whiteout::Name(OsStr::new(".hidden"))
        );
    }
}
