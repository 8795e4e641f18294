//! bbqueue 0.7's framed grants over 1 KiB of inline storage (atomics where the target has
//! compare-and-swap, a critical section otherwise): `push` = grant 64 B, copy, commit;
//! `pop` = read, copy the frame out, release.
#![no_std]
#![no_main]

use bbqueue::BBQueue;
use bbqueue::prod_cons::framed::{FramedConsumer, FramedProducer};
use bbqueue::traits::notifier::polling::Polling;
use bbqueue::traits::storage::Inline;
use firmware_size::{PAYLOAD, run};

#[cfg(target_has_atomic = "ptr")]
type Coord = bbqueue::traits::coordination::cas::AtomicCoord;
#[cfg(not(target_has_atomic = "ptr"))]
type Coord = bbqueue::traits::coordination::cs::CsCoord;
type Queue = BBQueue<Inline<1024>, Coord, Polling>;

/// The queue's RAM, as a symbol whose size `nm` prints.
#[used]
#[unsafe(no_mangle)]
static BBQUEUE_RING_BYTES: [u8; core::mem::size_of::<Queue>()] = [0; core::mem::size_of::<Queue>()];

#[inline(never)]
#[unsafe(no_mangle)]
fn bbqueue_push(p: &FramedProducer<&'static Queue>, data: &[u8; PAYLOAD]) -> bool {
    match p.grant(PAYLOAD as u16) {
        Ok(mut g) => {
            g[..PAYLOAD].copy_from_slice(data);
            g.commit(PAYLOAD as u16);
            true
        }
        Err(_) => false,
    }
}

#[inline(never)]
#[unsafe(no_mangle)]
fn bbqueue_pop(c: &FramedConsumer<&'static Queue>, out: &mut [u8; PAYLOAD]) -> bool {
    match c.read() {
        Ok(r) => {
            let ok = r.len() == PAYLOAD;
            if ok {
                out.copy_from_slice(&r[..PAYLOAD]);
            }
            r.release();
            ok
        }
        Err(_) => false,
    }
}

static QUEUE: Queue = Queue::new();

#[unsafe(no_mangle)]
extern "C" fn _start() -> ! {
    let (p, c) = (QUEUE.framed_producer(), QUEUE.framed_consumer());
    run(|d| bbqueue_push(&p, d), |o| bbqueue_pop(&c, o))
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}
