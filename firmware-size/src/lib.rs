//! What both firmware binaries share: the payload, a critical-section implementation for
//! the single-core targets (what `cortex-m`'s and `riscv`'s single-core implementations
//! do), and the entry point's loop.
#![no_std]

/// The payload every push writes and every pop reads back.
pub const PAYLOAD: usize = 64;

struct SingleCore;
critical_section::set_impl!(SingleCore);

// SAFETY: the targets are single-core; masking interrupts excludes every other context.
unsafe impl critical_section::Impl for SingleCore {
    unsafe fn acquire() -> critical_section::RawRestoreState {
        #[cfg(target_arch = "arm")]
        {
            let primask: u32;
            // SAFETY: reads PRIMASK and masks interrupts; no memory touched.
            unsafe {
                core::arch::asm!("mrs {}, PRIMASK", "cpsid i", out(reg) primask, options(nostack));
            }
            primask & 1 == 0
        }
        #[cfg(target_arch = "riscv32")]
        {
            let mstatus: usize;
            // SAFETY: clears MIE and returns the previous mstatus.
            unsafe {
                core::arch::asm!("csrrci {}, mstatus, 8", out(reg) mstatus, options(nostack))
            };
            mstatus & 8 != 0
        }
    }

    unsafe fn release(was_enabled: critical_section::RawRestoreState) {
        if was_enabled {
            #[cfg(target_arch = "arm")]
            // SAFETY: unmasks interrupts that were enabled before acquire.
            unsafe {
                core::arch::asm!("cpsie i", options(nostack))
            };
            #[cfg(target_arch = "riscv32")]
            // SAFETY: sets MIE again, as it was before acquire.
            unsafe {
                core::arch::asm!("csrsi mstatus, 8", options(nostack))
            };
        }
    }
}

/// Runs `push` and `pop` forever on volatile data, so neither can be optimised away.
#[inline(always)]
pub fn run(
    mut push: impl FnMut(&[u8; PAYLOAD]) -> bool,
    mut pop: impl FnMut(&mut [u8; PAYLOAD]) -> bool,
) -> ! {
    let mut data = [0u8; PAYLOAD];
    let mut out = [0u8; PAYLOAD];
    loop {
        // SAFETY: a volatile read of a local, so the payload is unknown to the optimiser.
        data[0] = unsafe { core::ptr::read_volatile(&data[0]) };
        let pushed = push(&data);
        let popped = pop(&mut out);
        // SAFETY: volatile writes of locals keep the results alive.
        unsafe {
            core::ptr::write_volatile(&mut data[1], u8::from(pushed) + u8::from(popped));
            core::ptr::write_volatile(&mut data[2], out[PAYLOAD - 1]);
        }
    }
}
