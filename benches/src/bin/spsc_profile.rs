//! One-thread SPSC loops for instruction counting: fill the queue with `--burst` events,
//! drain it, repeat, so the producer and consumer paths run without waiting on another
//! thread. Run under callgrind, which counts instructions repeatably on a shared machine:
//!
//! ```text
//! cargo build --release -p benches --bin spsc_profile
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/spsc_profile --queue ringcore-single --events 1000000
//! ```
//!
//! Instructions per event = (total − the same command with `--events 0`) / events.
//! Queues: ringcore-single, ringcore-batched, rtrb-single, rtrb-chunks, bbqueue-framed.

use std::hint::black_box;
use std::process::ExitCode;

use benches::{Args, boxed_ring, item, payload_ok};

const P: usize = 64;
const RING: usize = 65536;

fn main() -> ExitCode {
    let mut a = Args::from_env();
    let parsed = (|| -> Result<(String, u64, usize), String> {
        let queue: String = a.value("--queue")?.ok_or("--queue is required")?;
        let events = a.value("--events")?.unwrap_or(1_000_000);
        let burst = a.value("--burst")?.unwrap_or(64);
        a.finish()?;
        Ok((queue, events, burst))
    })();
    let (queue, events, burst) = match parsed {
        Ok(v) => v,
        Err(e) => {
            eprintln!("spsc_profile: {e}");
            return ExitCode::from(2);
        }
    };
    let bad = match queue.as_str() {
        "ringcore-single" => ringcore(events, burst, false),
        "ringcore-batched" => ringcore(events, burst, true),
        "rtrb-single" => rtrb_loop(events, burst, false),
        "rtrb-chunks" => rtrb_loop(events, burst, true),
        "bbqueue-framed" => bbqueue(events, burst),
        q => {
            eprintln!("spsc_profile: unknown queue {q}");
            return ExitCode::from(2);
        }
    };
    if bad > 0 {
        eprintln!("{bad} events failed their check");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

fn ringcore(events: u64, burst: usize, batched: bool) -> u64 {
    let ring = boxed_ring::<RING>();
    let (mut tx, mut rx) = ring.try_split(0).expect("fresh ring");
    let (mut sent, mut got, mut bad) = (0u64, 0u64, 0u64);
    while got < events {
        let end = events.min(sent + burst as u64);
        if batched {
            let mut b = tx.batch();
            while sent < end {
                let mut g = b.grant(P).expect("room for a burst");
                *<&mut [u8; P]>::try_from(g.payload_mut()).expect("P bytes") = item::<P>(sent);
                g.commit();
                sent += 1;
            }
            drop(b);
            let mut r = rx.read_batch(burst);
            while let Some(v) = r.next() {
                bad += u64::from(!payload_ok(black_box(v.payload), got, P));
                got += 1;
            }
        } else {
            while sent < end {
                let mut g = tx.grant(P).expect("room for a burst");
                *<&mut [u8; P]>::try_from(g.payload_mut()).expect("P bytes") = item::<P>(sent);
                g.commit();
                sent += 1;
            }
            while let Some(r) = rx.read() {
                bad += u64::from(!payload_ok(black_box(r.payload()), got, P));
                got += 1;
            }
        }
    }
    bad
}

fn rtrb_loop(events: u64, burst: usize, chunks: bool) -> u64 {
    let (mut tx, mut rx) = rtrb::RingBuffer::<[u8; P]>::new(1024);
    let (mut sent, mut got, mut bad) = (0u64, 0u64, 0u64);
    while got < events {
        let n = (events - sent).min(burst as u64) as usize;
        if chunks {
            let chunk = tx.write_chunk_uninit(n).expect("room for a burst");
            sent += chunk.fill_from_iter((sent..).map(item::<P>)) as u64;
            let chunk = rx.read_chunk(n).expect("just written");
            let (x, y) = chunk.as_slices();
            for v in x.iter().chain(y) {
                bad += u64::from(!payload_ok(black_box(v), got, P));
                got += 1;
            }
            chunk.commit_all();
        } else {
            for _ in 0..n {
                tx.push(item::<P>(sent)).expect("room for a burst");
                sent += 1;
            }
            while let Ok(v) = rx.pop() {
                bad += u64::from(!payload_ok(black_box(&v), got, P));
                got += 1;
            }
        }
    }
    bad
}

fn bbqueue(events: u64, burst: usize) -> u64 {
    use bbqueue::nicknames::GogiGui;
    use bbqueue::traits::storage::BoxedSlice;
    let queue = GogiGui::new_with_storage(BoxedSlice::new(RING));
    let (tx, rx) = (queue.framed_producer(), queue.framed_consumer());
    let (mut sent, mut got, mut bad) = (0u64, 0u64, 0u64);
    while got < events {
        let end = events.min(sent + burst as u64);
        while sent < end {
            let mut g = tx.grant(P as u16).expect("room for a burst");
            *<&mut [u8; P]>::try_from(&mut g[..P]).expect("P bytes") = item::<P>(sent);
            g.commit(P as u16);
            sent += 1;
        }
        while let Ok(r) = rx.read() {
            bad += u64::from(!payload_ok(black_box(&r), got, P));
            got += 1;
            r.release();
        }
    }
    bad
}
