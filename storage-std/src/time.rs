//! Time at the API edge: record timestamps are nanoseconds since the Unix epoch (`u64`,
//! what the format stores); these convert them to and from [`SystemTime`].
//!
//! ```
//! use std::time::{Duration, SystemTime, UNIX_EPOCH};
//! use storage_std::time;
//! let t = UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789);
//! assert_eq!(time::to_ns(t), 1_700_000_000_123_456_789);
//! assert_eq!(time::from_ns(1_700_000_000_123_456_789), t);
//! // Outside what a u64 of ns holds, it saturates.
//! assert_eq!(time::to_ns(UNIX_EPOCH - Duration::from_secs(1)), 0);
//! ```

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch of `t`: 0 for times before 1970, `u64::MAX` for
/// times after 2554 (the stored stamps' range).
pub fn to_ns(t: SystemTime) -> u64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos().try_into().unwrap_or(u64::MAX),
        Err(_) => 0,
    }
}

/// The time `ns` nanoseconds after the Unix epoch (a stored stamp as a [`SystemTime`]).
pub fn from_ns(ns: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(ns)
}

/// Serde for a [`Duration`] as whole nanoseconds (saturating at `u64::MAX`).
pub(crate) mod duration_ns {
    use std::time::Duration;

    pub(crate) fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_nanos().try_into().unwrap_or(u64::MAX))
    }

    pub(crate) fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Duration, D::Error> {
        let ns: u64 = serde::Deserialize::deserialize(d)?;
        Ok(Duration::from_nanos(ns))
    }
}

/// Serde for an `Option<Duration>` as whole nanoseconds or `null`.
pub(crate) mod opt_duration_ns {
    use std::time::Duration;

    pub(crate) fn serialize<S: serde::Serializer>(
        d: &Option<Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        let ns: Option<u64> = serde::Deserialize::deserialize(d)?;
        Ok(ns.map(Duration::from_nanos))
    }
}

/// The instant `timeout` from now. A timeout past what an `Instant` holds (a caller's
/// `Duration::MAX` for "as long as it takes") is a century: as good as forever, where
/// `Instant + Duration` would panic.
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + CENTURY.min(timeout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_trip_and_saturate() {
        for ns in [0, 1, 999, 1_700_000_000_123_456_789, u64::MAX] {
            assert_eq!(to_ns(from_ns(ns)), ns);
        }
        assert_eq!(to_ns(UNIX_EPOCH - Duration::from_nanos(1)), 0);
        let far = from_ns(u64::MAX) + Duration::from_secs(1);
        assert_eq!(to_ns(far), u64::MAX);
    }
}
