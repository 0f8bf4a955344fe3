//! Which decompressor a layer needs: its media type says what it should be, its first bytes
//! say what it is (registries and old tools mislabel layers), and the bytes win.

use super::UnpackError;
use std::io::{BufRead, BufReader, Read};

/// A layer's compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip (RFC 1952).
    Gzip,
    /// Zstandard (RFC 8878).
    Zstd,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// The compression a layer media type declares, `None` (the Option) for a type that is not a
/// layer we read.
pub fn declared_compression(media_type: &str) -> Option<Compression> {
    match media_type {
        "application/vnd.oci.image.layer.v1.tar"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar"
        | "application/vnd.docker.image.rootfs.diff.tar"
        | "application/x-tar" => Some(Compression::None),
        "application/vnd.oci.image.layer.v1.tar+gzip"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        | "application/vnd.docker.image.rootfs.diff.tar.gzip"
        | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Some(Compression::Gzip),
        "application/vnd.oci.image.layer.v1.tar+zstd"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" => Some(Compression::Zstd),
        _ => None,
    }
}

/// The compression of a stream from its first bytes and its declared media type: magic bytes
/// decide; without a known magic the stream is a plain tar. An unknown media type is refused.
pub fn detect_compression(media_type: &str, head: &[u8]) -> Result<Compression, UnpackError> {
    declared_compression(media_type)
        .ok_or_else(|| UnpackError::MediaType(media_type.to_string()))?;
    Ok(if head.starts_with(&GZIP_MAGIC) {
        Compression::Gzip
    } else if head.starts_with(&ZSTD_MAGIC) {
        Compression::Zstd
    } else {
        Compression::None
    })
}

/// A reader of the layer's tar bytes.
pub(super) fn open<'a>(
    layer: impl Read + 'a,
    media_type: &str,
) -> Result<Box<dyn Read + 'a>, UnpackError> {
    let mut buffered = BufReader::with_capacity(256 * 1024, layer);
    let head = buffered.fill_buf().map_err(UnpackError::Tar)?;
    Ok(match detect_compression(media_type, head)? {
        Compression::None => Box::new(buffered),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::with_buffer(buffered).map_err(UnpackError::Tar)?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_bytes_win_over_the_media_type() {
        let gz = "application/vnd.oci.image.layer.v1.tar+gzip";
        assert_eq!(
            detect_compression(gz, &[0x1f, 0x8b, 8]).unwrap(),
            Compression::Gzip
        );
        assert_eq!(
            detect_compression(gz, b"etc/\0\0").unwrap(),
            Compression::None
        );
        assert_eq!(
            detect_compression("application/vnd.oci.image.layer.v1.tar", &ZSTD_MAGIC).unwrap(),
            Compression::Zstd
        );
        let err = detect_compression("application/vnd.oci.image.layer.v1.tar+bzip2", b"BZh")
            .unwrap_err()
            .to_string();
        assert!(err.contains("tar+bzip2"), "{err}");
    }

    #[test]
    fn reads_each_compression() {
        let data = b"hello layer".repeat(100);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &data).unwrap();
        let gz = gz.finish().unwrap();
        let zs = zstd::stream::encode_all(&data[..], 1).unwrap();
        for (bytes, mt) in [
            (data.clone(), "application/vnd.oci.image.layer.v1.tar"),
            (gz, "application/vnd.docker.image.rootfs.diff.tar.gzip"),
            (zs, "application/vnd.oci.image.layer.v1.tar+zstd"),
        ] {
            let mut out = Vec::new();
            open(&bytes[..], mt).unwrap().read_to_end(&mut out).unwrap();
            assert_eq!(out, data, "{mt}");
        }
    }
}
