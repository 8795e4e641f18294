//! Frame compression: zstd (default) or lz4. Every frame is compressed on its own, so
//! any frame decompresses without the others.

use std::fmt;
use std::str::FromStr;

/// How frames are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// zstd at this level (1 fastest .. 19; 3 is zstd's default).
    Zstd {
        /// Compression level.
        level: i32,
    },
    /// lz4 block format (`lz4_flex`): faster, larger.
    Lz4,
}

impl Default for Codec {
    fn default() -> Self {
        Self::Zstd { level: 3 }
    }
}

/// Codec id stored in an object's header.
pub(crate) const CODEC_ZSTD: u32 = 1;
/// Codec id stored in an object's header.
pub(crate) const CODEC_LZ4: u32 = 2;

impl Codec {
    /// The id written into an object header.
    pub(crate) fn id(self) -> u32 {
        match self {
            Self::Zstd { .. } => CODEC_ZSTD,
            Self::Lz4 => CODEC_LZ4,
        }
    }

    /// The codec's name as the manifest and reports spell it (`zstd`, `lz4`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Zstd { .. } => "zstd",
            Self::Lz4 => "lz4",
        }
    }

    /// Compresses one frame.
    pub(crate) fn compress(self, raw: &[u8]) -> std::io::Result<Vec<u8>> {
        match self {
            Self::Zstd { level } => zstd::bulk::compress(raw, level),
            Self::Lz4 => Ok(lz4_flex::block::compress(raw)),
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Zstd { level } => write!(f, "zstd:{level}"),
            Self::Lz4 => f.write_str("lz4"),
        }
    }
}

impl FromStr for Codec {
    type Err = String;

    /// `zstd`, `zstd:LEVEL` (1..=19) or `lz4`.
    ///
    /// ```
    /// use storage_tier::Codec;
    /// assert_eq!("zstd:9".parse(), Ok(Codec::Zstd { level: 9 }));
    /// assert_eq!("lz4".parse(), Ok(Codec::Lz4));
    /// assert!("zstd:99".parse::<Codec>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            None if s == "zstd" => Ok(Self::default()),
            None if s == "lz4" => Ok(Self::Lz4),
            Some(("zstd", l)) => match l.parse::<i32>() {
                Ok(level) if (1..=19).contains(&level) => Ok(Self::Zstd { level }),
                _ => Err(format!("zstd level must be 1..=19, got {l:?}")),
            },
            _ => Err(format!("unknown codec {s:?} (zstd, zstd:LEVEL or lz4)")),
        }
    }
}

/// Decompresses one frame of codec `id` that must expand to exactly `raw_len` bytes.
/// Damaged input is an error (never a panic, never more than `raw_len` bytes allocated).
pub(crate) fn decompress(id: u32, comp: &[u8], raw_len: usize) -> Result<Vec<u8>, String> {
    let out = match id {
        CODEC_ZSTD => zstd::bulk::decompress(comp, raw_len).map_err(|e| e.to_string())?,
        CODEC_LZ4 => lz4_flex::block::decompress(comp, raw_len).map_err(|e| e.to_string())?,
        other => return Err(format!("unknown codec id {other}")),
    };
    if out.len() != raw_len {
        return Err(format!(
            "frame decompressed to {} bytes, the index says {raw_len}",
            out.len()
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_codecs_round_trip_and_reject_damage() {
        let raw: Vec<u8> = (0..50_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for codec in [Codec::default(), Codec::Zstd { level: 1 }, Codec::Lz4] {
            let comp = codec.compress(&raw).unwrap();
            assert!(comp.len() < raw.len() / 2, "{codec}: {}", comp.len());
            assert_eq!(decompress(codec.id(), &comp, raw.len()).unwrap(), raw);
            // A wrong expected length is an error, not a short or long buffer.
            assert!(decompress(codec.id(), &comp, raw.len() - 1).is_err());
            assert!(decompress(codec.id(), &comp, raw.len() + 1).is_err());
            // Truncated input.
            assert!(decompress(codec.id(), &comp[..comp.len() / 2], raw.len()).is_err());
        }
        assert!(decompress(99, b"x", 1).is_err());
    }
}
