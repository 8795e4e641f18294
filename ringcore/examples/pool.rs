//! A size-class pool: five broadcast rings (64 B, 256 B, 1 KiB, 4 KiB and 16 KiB
//! payloads by default) behind one publisher, which puts each event in the smallest
//! class that fits, so small events do not pay for 16 KiB slots. A reader merges the
//! classes back into publication order.
//!
//! Run with `cargo run -p ringcore --example pool`.

use ringcore::broadcast::ReadError;
use ringcore::pool::{GatedPool, PoolError, SizeClass};

/// A gated pool (nothing lost; `Full` when a reader is behind) for up to 2 readers.
/// It is one `static` of about 360 KiB of zero bytes: `.bss`, checked at compile time
/// against the pool's footprint limit.
static POOL: GatedPool<2> = GatedPool::new();

fn main() {
    let mut publisher = POOL.try_publisher().expect("one publisher");
    let mut reader = POOL.join().expect("room for a reader");

    // Each payload size lands in the smallest class that holds it; sequences are
    // global across classes.
    let sizes_and_classes = [
        (10, SizeClass::XS),
        (64, SizeClass::XS), // exactly a class's size goes to that class
        (65, SizeClass::S),  // one byte more goes to the next
        (1000, SizeClass::M),
        (4096, SizeClass::L),
        (16 * 1024, SizeClass::XL),
    ];
    let payload = vec![0xAB; 16 * 1024];
    for (seq, (len, class)) in sizes_and_classes.iter().enumerate() {
        let published = publisher.try_publish(2, 0, &payload[..*len]);
        assert_eq!(published, Ok((seq as u64, *class)), "{len} bytes");
    }

    // More than the largest class is refused, never truncated.
    let too_big = vec![0u8; 16 * 1024 + 1];
    assert!(matches!(
        publisher.try_publish(2, 0, &too_big),
        Err(PoolError::TooLarge { .. })
    ));

    // The reader sees the events in publication order, across the classes.
    for (seq, (len, _)) in sizes_and_classes.iter().enumerate() {
        let (got_seq, got_len) = reader
            .try_read(|e| (e.header.seq, e.payload.len()))
            .unwrap();
        assert_eq!((got_seq, got_len), (seq as u64, *len));
    }
    assert_eq!(reader.try_read(|_| ()), Err(ReadError::Empty));
    assert_eq!(reader.seen(), sizes_and_classes.len());
    println!(
        "pool: {} events routed to their size classes and read back in order",
        reader.seen()
    );
}
