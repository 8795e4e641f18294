//! The system clock, read where the log stamps records, segments and offsets.

/// Nanoseconds since the Unix epoch from the system clock (0 before 1970, saturating
/// after 2554).
///
/// ```
/// let t = storage_std::now_ns();
/// assert!(t > 1_600_000_000_000_000_000, "after September 2020");
/// ```
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos().try_into().unwrap_or(u64::MAX))
}
