//! Checked little-endian field access and the checks every fixed-size structure (segment
//! header and footer, index header, offset file) shares: length, all-zero, magic,
//! version, CRC. Nothing here panics on any input.

/// Why bytes are not a valid header, footer, index or offset record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum StructError {
    /// Fewer bytes than the structure.
    Truncated {
        /// Bytes needed.
        needed: u64,
        /// Bytes available.
        available: u64,
    },
    /// All bytes are zero (a preallocated or never-written region).
    Zero,
    /// The magic bytes are wrong.
    BadMagic,
    /// The magic is right but the version is not one this build reads.
    UnsupportedVersion {
        /// The version found.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// The structure's own CRC does not match.
    Crc {
        /// Stored CRC.
        stored: u32,
        /// Computed CRC.
        computed: u32,
    },
    /// The CRC matches but a field is inconsistent.
    Invalid {
        /// What is wrong.
        what: String,
    },
}

impl core::fmt::Display for StructError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Truncated { needed, available } => {
                write!(f, "truncated: {needed} bytes needed, {available} available")
            }
            Self::Zero => f.write_str("all zero"),
            Self::BadMagic => f.write_str("bad magic"),
            Self::UnsupportedVersion { found, supported } => write!(
                f,
                "unsupported format version {found} (this build reads version {supported})"
            ),
            Self::Crc { stored, computed } => write!(
                f,
                "checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"
            ),
            Self::Invalid { what } => write!(f, "invalid: {what}"),
        }
    }
}

impl std::error::Error for StructError {}

pub(super) fn le_u64(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(off..off + 8) {
        a.copy_from_slice(s);
    }
    u64::from_le_bytes(a)
}

pub(super) fn le_u32(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(off..off + 4) {
        a.copy_from_slice(s);
    }
    u32::from_le_bytes(a)
}

pub(super) fn put_u64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

pub(super) fn put_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

pub(super) fn all_zero(b: &[u8]) -> bool {
    b.iter().all(|&x| x == 0)
}

pub(super) fn invalid(what: impl Into<String>) -> StructError {
    StructError::Invalid { what: what.into() }
}

/// Common checks for a fixed-size structure with magic, version at +8 and a trailing CRC
/// over every byte before it; `readable` is the range of versions this build reads.
/// Returns the bytes and the version.
///
/// A version outside `readable` is reported as such only when the checksum holds (every
/// version keeps this layout of magic, version and trailing CRC); with a bad checksum
/// it is damage like any other flipped bit.
pub(super) fn check_struct<'a>(
    buf: &'a [u8],
    len: usize,
    magic: &[u8; 8],
    readable: std::ops::RangeInclusive<u32>,
) -> Result<(&'a [u8], u32), StructError> {
    let Some(b) = buf.get(..len) else {
        if !buf.is_empty() && all_zero(buf) {
            return Err(StructError::Zero);
        }
        return Err(StructError::Truncated {
            needed: len as u64,
            available: buf.len() as u64,
        });
    };
    if all_zero(b) {
        return Err(StructError::Zero);
    }
    if &b[..8] != magic {
        return Err(StructError::BadMagic);
    }
    let version = le_u32(b, 8);
    let stored = le_u32(b, len - 4);
    let computed = crc32c::crc32c(&b[..len - 4]);
    if stored != computed {
        return Err(StructError::Crc { stored, computed });
    }
    if !readable.contains(&version) {
        return Err(StructError::UnsupportedVersion {
            found: version,
            supported: *readable.end(),
        });
    }
    Ok((b, version))
}

/// Bits to try when flipping every bit of a structure: all of them, or a spread under
/// Miri.
#[cfg(test)]
pub(super) fn bits(len: usize) -> impl Iterator<Item = usize> {
    (0..len * 8).step_by(if cfg!(miri) { 13 } else { 1 })
}
