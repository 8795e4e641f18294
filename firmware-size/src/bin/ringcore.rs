//! ringcore's SPSC ring of 1 KiB: `push` = grant 64 B, copy, commit; `pop` = read, copy
//! the payload out, release. Any panic path left in them fails the link: the panic handler
//! calls a symbol that does not exist.
#![no_std]
#![no_main]

use firmware_size::{PAYLOAD, run};
use ringcore::spsc::{Consumer, Producer, Ring};

/// The ring's RAM, as a symbol whose size `nm` prints.
#[used]
#[unsafe(no_mangle)]
static RINGCORE_RING_BYTES: [u8; core::mem::size_of::<Ring<1024>>()] =
    [0; core::mem::size_of::<Ring<1024>>()];

#[inline(never)]
#[unsafe(no_mangle)]
fn ringcore_push(p: &mut Producer<'_, 1024>, data: &[u8; PAYLOAD]) -> bool {
    match p.grant(PAYLOAD) {
        Ok(mut g) => {
            g.payload_mut().copy_from_slice(data);
            g.commit();
            true
        }
        Err(_) => false,
    }
}

#[inline(never)]
#[unsafe(no_mangle)]
fn ringcore_pop(c: &mut Consumer<'_, 1024>, out: &mut [u8; PAYLOAD]) -> bool {
    match c.read() {
        Some(r) => match <&[u8; PAYLOAD]>::try_from(r.payload()) {
            Ok(payload) => {
                *out = *payload;
                true
            }
            Err(_) => false,
        },
        None => false,
    }
}

#[unsafe(no_mangle)]
extern "C" fn _start() -> ! {
    let mut ring = Ring::<1024>::new();
    let (mut p, mut c) = ring.split_mut(0);
    run(|d| ringcore_push(&mut p, d), |o| ringcore_pop(&mut c, o))
}

unsafe extern "C" {
    /// Never defined: linking a call to it means a panic path survived.
    fn ringcore_push_or_pop_can_panic() -> !;
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    // SAFETY: never called; only referenced if the optimiser kept a panic path.
    unsafe { ringcore_push_or_pop_can_panic() }
}
