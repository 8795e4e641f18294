//! The SPSC peer comparison: ringcore against rtrb, ringbuf, bbqueue's framed grants,
//! heapless::spsc, crossbeam's ArrayQueue and std's sync_channel, in one process and one run.
//!
//! ```text
//! cargo run --release -p benches --bin peers -- [--events N] [--runs K] [--payload B]
//!     [--batch K] [--ring-bytes BYTES] [--only NAME] [--json]
//! ```
//!
//! Each variant moves `--events` payloads from a producer thread to a consumer thread,
//! `--runs` times; runs are interleaved (round 1 of every variant, then round 2, ...) so
//! a noisy neighbour hurts every variant alike. The table shows medians. With `--json`
//! stdout is one line of JSON and the table goes to stderr. Exit code 0 when every
//! event arrived intact, 1 when a check failed, 2 for a usage error.

use std::io::Write as _;
use std::process::ExitCode;

use benches::spsc_peers::{Mode, QUEUE_SLOTS, Variant, record_sized_rtrb, variants};
use benches::{Align, Args, Json, Table, machine_description, median, min_max};

const USAGE: &str = "usage: peers [--events N] [--runs K] [--payload 8|16|32|64|128|256|512] \
[--batch K] [--ring-bytes 16384|65536|262144|1048576|4194304] [--only NAME] [--json]";

struct Config {
    events: u64,
    runs: usize,
    payload: usize,
    batch: usize,
    ring_bytes: usize,
    only: Option<String>,
    json: bool,
}

fn parse() -> Result<Config, String> {
    let mut a = Args::from_env();
    if a.flag("--help") || a.flag("-h") {
        return Err(String::new());
    }
    let c = Config {
        events: a.value("--events")?.unwrap_or(5_000_000),
        runs: a.value("--runs")?.unwrap_or(7),
        payload: a.value("--payload")?.unwrap_or(64),
        batch: a.value("--batch")?.unwrap_or(64),
        ring_bytes: a.value("--ring-bytes")?.unwrap_or(65536),
        only: a.value("--only")?,
        json: a.flag("--json"),
    };
    a.finish()?;
    if c.events == 0 || c.runs == 0 || c.batch == 0 {
        return Err("--events, --runs and --batch must be at least 1".into());
    }
    Ok(c)
}

/// The variants for the configured payload and ring size (both const generics), and
/// rtrb with items of ringcore's record size for the payload, as many as the ring holds.
fn select(payload: usize, ring: usize) -> Option<Vec<Variant>> {
    macro_rules! with_records {
        ($p:literal, $r:literal) => {{
            const _: () = assert!(ringcore::spsc::record_len($p) == $r);
            macro_rules! at {
                ($n:literal) => {{
                    let mut v = variants::<$p, $n>();
                    v.extend(record_sized_rtrb::<$r, { $n / $r }>());
                    Some(v)
                }};
            }
            match ring {
                16384 => at!(16384),
                65536 => at!(65536),
                262144 => at!(262144),
                1048576 => at!(1048576),
                4194304 => at!(4194304),
                _ => None,
            }
        }};
    }
    match payload {
        8 => with_records!(8, 24),
        16 => with_records!(16, 32),
        32 => with_records!(32, 48),
        64 => with_records!(64, 80),
        128 => with_records!(128, 144),
        256 => with_records!(256, 272),
        512 => with_records!(512, 528),
        _ => None,
    }
}

struct Summary {
    variant: Variant,
    eps: Vec<f64>,
    mbps: Vec<f64>,
    errors: u64,
}

impl Summary {
    fn median_eps(&self) -> f64 {
        median(&self.eps)
    }
}

fn main() -> ExitCode {
    let cfg = match parse() {
        Ok(c) => c,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("peers: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let Some(mut all) = select(cfg.payload, cfg.ring_bytes) else {
        eprintln!("peers: unsupported --payload or --ring-bytes\n{USAGE}");
        return ExitCode::from(2);
    };
    if let Some(only) = &cfg.only {
        let only = only.to_lowercase();
        all.retain(|v| v.is_ringcore() || v.queue.to_lowercase().contains(&only));
    }

    // Warm-up: one short pass of each variant (page faults, frequency ramp, allocator).
    let warm = (cfg.events / 10).max(1);
    for v in &all {
        let _ = (v.run)(warm, cfg.batch);
    }

    let mut sums: Vec<Summary> = all
        .into_iter()
        .map(|variant| Summary {
            variant,
            eps: Vec::new(),
            mbps: Vec::new(),
            errors: 0,
        })
        .collect();
    for round in 0..cfg.runs {
        eprint!("round {}/{}:", round + 1, cfg.runs);
        for s in &mut sums {
            let sample = (s.variant.run)(cfg.events, cfg.batch);
            s.eps.push(sample.events_per_s());
            s.mbps.push(sample.payload_mb_per_s());
            s.errors += sample.errors;
            eprint!(" {:.0}", sample.events_per_s() / 1e6);
            let _ = std::io::stderr().flush();
        }
        eprintln!(" M ev/s");
    }

    let ringcore_runs = |mode: Mode| {
        sums.iter()
            .find(|s| s.variant.is_ringcore() && s.variant.mode == mode)
            .map_or_else(Vec::new, |s| s.eps.clone())
    };
    let ringcore_of = |mode: Mode| median(&ringcore_runs(mode));
    // The ratio is taken round by round (both measured moments apart) and the median of
    // those is reported: on a shared machine whose speed drifts between rounds this is
    // steadier than a ratio of two medians.
    let ratio_to_ringcore = |s: &Summary| {
        let per_round: Vec<f64> = s
            .eps
            .iter()
            .zip(ringcore_runs(s.variant.mode))
            .map(|(peer, ours)| peer / ours)
            .collect();
        median(&per_round)
    };

    let mut table = Table::new(&[
        ("queue", Align::Left),
        ("API", Align::Left),
        ("mode", Align::Left),
        ("M events/s", Align::Right),
        ("min–max", Align::Right),
        ("payload MB/s", Align::Right),
        ("÷ ringcore", Align::Right),
    ]);
    let mut results = Vec::new();
    for s in &sums {
        let eps = s.median_eps();
        let ratio = ratio_to_ringcore(s);
        let (lo, hi) = min_max(&s.eps);
        table.row([
            s.variant.queue.to_string(),
            s.variant.api.to_string(),
            s.variant.mode.name().to_string(),
            format!("{:.1}", eps / 1e6),
            format!("{:.0}–{:.0}", lo / 1e6, hi / 1e6),
            format!("{:.0}", median(&s.mbps)),
            format!("{ratio:.2}"),
        ]);
        results.push(Json::obj([
            ("queue", Json::str(s.variant.queue)),
            ("api", Json::str(s.variant.api)),
            ("mode", Json::str(s.variant.mode.name())),
            ("capacity", Json::str(s.variant.capacity.clone())),
            ("median_events_per_s", Json::Num(eps)),
            ("median_payload_mb_per_s", Json::Num(median(&s.mbps))),
            ("ratio_to_ringcore", Json::Num(ratio)),
            ("runs_events_per_s", Json::nums(&s.eps)),
            ("errors", Json::Int(s.errors)),
        ]));
    }

    let fastest_peer = |mode: Mode| {
        sums.iter()
            .filter(|s| !s.variant.is_ringcore() && s.variant.mode == mode)
            .max_by(|a, b| a.median_eps().total_cmp(&b.median_eps()))
    };
    let rtrb_single = sums
        .iter()
        .find(|s| s.variant.queue == "rtrb" && s.variant.mode == Mode::Single);
    let mut targets = Vec::new();
    let mut target_json = Vec::new();
    let bbqueue = sums.iter().find(|s| s.variant.queue == "bbqueue framed");
    let mut check = |what: &str, key: &'static str, mode: Mode, peer: &Summary, max_ratio: f64| {
        let (ours, theirs, ratio) = (
            ringcore_of(mode),
            peer.median_eps(),
            ratio_to_ringcore(peer),
        );
        // Met when the peer is at most `max_ratio` times as fast as ringcore, round for
        // round (median).
        let met = ratio <= max_ratio;
        targets.push(format!(
            "{} ringcore {:.1} M/s vs {what}{} {} {:.1} M/s, peer ÷ ringcore {ratio:.2}: {}",
            mode.name(),
            ours / 1e6,
            peer.variant.queue,
            peer.variant.api,
            theirs / 1e6,
            if met { "met" } else { "MISSED" }
        ));
        target_json.push((key, Json::Bool(met)));
    };
    if let Some(best) = fastest_peer(Mode::Batched) {
        check(
            "the fastest batched peer, ",
            "batched_at_or_above_fastest_peer",
            Mode::Batched,
            best,
            1.0,
        );
    }
    if let Some(r) = rtrb_single {
        check("", "single_at_or_above_rtrb", Mode::Single, r, 1.0);
    }
    if let Some(b) = bbqueue {
        check(
            "(2x needed) ",
            "single_at_least_twice_bbqueue_framed",
            Mode::Single,
            b,
            0.5,
        );
    }
    // Batched at or above single: ringcore's two modes, round for round.
    let (single_runs, batched_runs) = (ringcore_runs(Mode::Single), ringcore_runs(Mode::Batched));
    if !single_runs.is_empty() && !batched_runs.is_empty() {
        let per_round: Vec<f64> = batched_runs
            .iter()
            .zip(&single_runs)
            .map(|(b, s)| b / s)
            .collect();
        let ratio = median(&per_round);
        let met = ratio >= 1.0;
        targets.push(format!(
            "batched ringcore {:.1} M/s vs single ringcore {:.1} M/s, batched ÷ single {ratio:.2}: {}",
            median(&batched_runs) / 1e6,
            median(&single_runs) / 1e6,
            if met { "met" } else { "MISSED" }
        ));
        target_json.push(("batched_at_or_above_single", Json::Bool(met)));
    }

    let errors: u64 = sums.iter().map(|s| s.errors).sum();
    let ring_desc = sums
        .iter()
        .find(|s| s.variant.is_ringcore())
        .map_or_else(String::new, |s| s.variant.capacity.clone());
    let machine = machine_description();
    let mut text = String::new();
    text.push_str(&format!(
        "SPSC peers, {} B payloads, {} events per run, median of {} runs, batch {}; \
         two threads (producer, consumer), unpinned\n\
         capacities: ringcore {ring_desc} (each record has a 16-byte header, padded to 8); \
         fixed-size queues {QUEUE_SLOTS} items of [u8; {}] (heapless {})\n\
         machine: {machine}\n\
         command: cargo run --release -p benches --bin peers -- --events {} --runs {} \
         --payload {} --batch {} --ring-bytes {}\n\n",
        cfg.payload,
        cfg.events,
        cfg.runs,
        cfg.batch,
        cfg.payload,
        QUEUE_SLOTS - 1,
        cfg.events,
        cfg.runs,
        cfg.payload,
        cfg.batch,
        cfg.ring_bytes,
    ));
    text.push_str(&table.render());
    text.push('\n');
    text.push_str(
        "`÷ ringcore`: the variant's events/s over ringcore's in the same mode (single vs \
         single, batched vs batched) and the same round, median over the rounds; `min–max`: \
         the spread of the rounds in M events/s.\n",
    );
    for t in &targets {
        text.push_str(&format!("target: {t}\n"));
    }
    if errors > 0 {
        text.push_str(&format!("ERRORS: {errors} events missing or corrupted\n"));
    } else {
        text.push_str("verified: every event of every run arrived in order and intact\n");
    }

    if cfg.json {
        eprint!("{text}");
        let line = Json::obj([
            ("bench", Json::str("spsc_peers")),
            ("payload_bytes", Json::Int(cfg.payload as u64)),
            ("events", Json::Int(cfg.events)),
            ("runs", Json::Int(cfg.runs as u64)),
            ("batch", Json::Int(cfg.batch as u64)),
            ("ring_bytes", Json::Int(cfg.ring_bytes as u64)),
            ("queue_slots", Json::Int(QUEUE_SLOTS as u64)),
            ("machine", Json::str(machine)),
            ("results", Json::Arr(results)),
            ("targets", Json::obj(target_json)),
            ("errors", Json::Int(errors)),
        ]);
        println!("{line}");
    } else {
        print!("{text}");
    }
    if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
