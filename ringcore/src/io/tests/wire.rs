//! The wire format: the checksum, the pinned layout, encoding into short buffers.

use super::*;

#[test]
fn crc_is_crc32c() {
    // The CRC32C check value, as in RFC 3720 and the `crc32c` crate.
    assert_eq!(CRC32C.checksum(b"123456789"), 0xE306_9283);
}

#[test]
fn wire_layout_is_pinned() {
    let h = header(0x0102_0304_0506_0708, 3);
    let bytes = frame(h.seq, 3);
    assert_eq!(bytes.len(), 39);
    assert_eq!(&bytes[..4], &[0xFE, 0x52, 0x43, 0x31]);
    assert_eq!(&bytes[HEADER_OFFSET..HEADER_CRC_OFFSET], &h.encode());
    assert_eq!(bytes[HEADER_OFFSET], 0x08, "little-endian sequence");
    let hcrc = CRC32C.checksum(&h.encode());
    assert_eq!(&bytes[28..32], &hcrc.to_le_bytes());
    let mut payload = [0_u8; 3];
    ringlog_pattern::fill(h.seq, &mut payload);
    assert_eq!(&bytes[32..35], &payload[..]);
    let mut all = h.encode().to_vec();
    all.extend_from_slice(&payload);
    assert_eq!(&bytes[35..], &CRC32C.checksum(&all).to_le_bytes());
}

#[test]
fn encode_frame_refuses_short_buffers() {
    let mut out = [0_u8; 40];
    for n in 0..39 {
        assert_eq!(encode_frame(&header(0, 3), b"abc", &mut out[..n]), None);
    }
    assert_eq!(encode_frame(&header(0, 99), b"abc", &mut out), Some(39));
    assert_eq!(
        decode_frame(&out, 3).unwrap().0.header.len,
        3,
        "len from payload"
    );
}
