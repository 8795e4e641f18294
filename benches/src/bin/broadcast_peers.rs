//! The broadcast peer comparison: ringcore's broadcast ring (gated and overwrite) against
//! the `disruptor` crate, `crossbeam-channel` and `tokio::sync::broadcast`, one writer and
//! R readers, in one process and one run.
//!
//! ```text
//! cargo run --release -p benches --bin broadcast_peers -- [--events N] [--runs K]
//!     [--readers 1,2] [--timeout-ms MS] [--only NAME] [--busy-spin] [--json]
//! ```
//!
//! Every variant moves `--events` events of 64 B from one writer thread to each of R
//! reader threads (R from `--readers`, e.g. `1,2,4,8` for a scaling table), `--runs`
//! times; runs are interleaved (round 1 of every variant, then round 2, ...) so a noisy
//! neighbour hurts every variant alike. Rates are events delivered to each reader per
//! second (the readers' mean), medians over the rounds; `÷ ringcore` is the median of
//! round-by-round ratios to the ringcore variant of the same kind and reader count. A
//! writer stops at `--timeout-ms` after its start, so a collapsed variant is reported as
//! timed out with the rate it managed. `--busy-spin` adds ringcore's gated ring waiting
//! with `BusySpin` (the disruptor's way of waiting), to tell the ring from the wait
//! strategy. With `--json` stdout is one line of JSON and the table goes to stderr. Exit
//! code 0 when every event was accounted for, 1 when a check failed, 2 for a usage error
//! (3 if a run hung past its deadline).

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use benches::broadcast_peers::{BATCH, Impl, MAX_READERS, Outcome, PAYLOAD, SLOTS};
use benches::{Align, Args, Json, Table, machine_description, median, min_max};

const USAGE: &str = "usage: broadcast_peers [--events N] [--runs K] [--readers 1,2[,4,8...]] \
[--timeout-ms MS] [--only NAME] [--busy-spin] [--json]";

/// The 1W2R target: events per second delivered to each reader.
const TARGET_1W2R_PER_READER: f64 = 100e6;

struct Config {
    events: u64,
    runs: usize,
    readers: Vec<usize>,
    timeout: Duration,
    only: Option<String>,
    busy_spin: bool,
    json: bool,
}

fn parse() -> Result<Config, String> {
    let mut a = Args::from_env();
    if a.flag("--help") || a.flag("-h") {
        return Err(String::new());
    }
    let readers: String = a.value("--readers")?.unwrap_or_else(|| "1,2".to_string());
    let readers = readers
        .split(',')
        .map(|r| {
            r.trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_READERS).contains(n))
                .ok_or_else(|| format!("--readers: {r:?} is not a count from 1 to {MAX_READERS}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let c = Config {
        events: a.value("--events")?.unwrap_or(2_000_000),
        runs: a.value("--runs")?.unwrap_or(5),
        readers,
        timeout: Duration::from_millis(a.value("--timeout-ms")?.unwrap_or(1000)),
        only: a.value("--only")?,
        busy_spin: a.flag("--busy-spin"),
        json: a.flag("--json"),
    };
    a.finish()?;
    if c.events == 0 || c.runs == 0 || c.timeout.is_zero() {
        return Err("--events, --runs and --timeout-ms must be at least 1".into());
    }
    Ok(c)
}

struct Summary {
    variant: Impl,
    readers: usize,
    runs: Vec<Outcome>,
}

impl Summary {
    fn per_reader(&self) -> Vec<f64> {
        self.runs.iter().map(Outcome::per_reader_eps).collect()
    }
    fn median_per_reader(&self) -> f64 {
        median(&self.per_reader())
    }
    fn median_aggregate(&self) -> f64 {
        median(
            &self
                .runs
                .iter()
                .map(Outcome::aggregate_eps)
                .collect::<Vec<_>>(),
        )
    }
    fn median_lost(&self) -> f64 {
        median(&self.runs.iter().map(Outcome::mean_lost).collect::<Vec<_>>())
    }
    fn timed_out(&self) -> usize {
        self.runs.iter().filter(|o| o.timed_out).count()
    }
    fn errors(&self) -> u64 {
        self.runs.iter().map(Outcome::errors).sum()
    }
    fn label(&self) -> String {
        format!("{} ({})", self.variant.queue(), self.variant.api())
    }
}

fn main() -> ExitCode {
    let cfg = match parse() {
        Ok(c) => c,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("broadcast_peers: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };

    let mut sums: Vec<Summary> = Vec::new();
    for &readers in &cfg.readers {
        for v in Impl::ALL {
            let wanted = cfg.only.as_ref().is_none_or(|o| {
                v.is_ringcore() || v.queue().to_lowercase().contains(&o.to_lowercase())
            });
            let asked = v != Impl::RingcoreGatedBatchBusySpin || cfg.busy_spin;
            if wanted && asked && v.runs_with(readers) {
                sums.push(Summary {
                    variant: v,
                    readers,
                    runs: Vec::new(),
                });
            }
        }
    }

    // Warm-up: one short pass of each variant (page faults, frequency ramp, allocator,
    // thread stacks).
    let warm = (cfg.events / 10).max(1);
    for s in &sums {
        let _ = s.variant.run(s.readers, warm, cfg.timeout);
    }

    for round in 0..cfg.runs {
        eprint!("round {}/{}:", round + 1, cfg.runs);
        for s in &mut sums {
            let o = s.variant.run(s.readers, cfg.events, cfg.timeout);
            eprint!(
                " {:.0}{}",
                o.per_reader_eps() / 1e6,
                if o.timed_out { "(t)" } else { "" }
            );
            let _ = std::io::stderr().flush();
            s.runs.push(o);
        }
        eprintln!(" M ev/s per reader");
    }

    let baseline_runs = |v: Impl, readers: usize| {
        sums.iter()
            .find(|s| s.variant == v.baseline() && s.readers == readers)
            .map_or_else(Vec::new, Summary::per_reader)
    };
    // Round by round (both measured moments apart), then the median of those ratios: on a
    // shared machine whose speed drifts between rounds this is steadier than a ratio of
    // two medians.
    let ratio_to_ringcore = |s: &Summary| {
        let per_round: Vec<f64> = s
            .per_reader()
            .iter()
            .zip(baseline_runs(s.variant, s.readers))
            .map(|(peer, ours)| peer / ours)
            .collect();
        median(&per_round)
    };

    let mut table = Table::new(&[
        ("queue", Align::Left),
        ("API (writer / reader)", Align::Left),
        ("R", Align::Right),
        ("M ev/s per reader", Align::Right),
        ("min–max", Align::Right),
        ("M ev/s all readers", Align::Right),
        ("lost per reader", Align::Right),
        ("timed out", Align::Right),
        ("÷ ringcore", Align::Right),
    ]);
    let mut results = Vec::new();
    for s in &sums {
        let per_reader = s.per_reader();
        let (lo, hi) = min_max(&per_reader);
        let ratio = ratio_to_ringcore(s);
        let lossless = s.runs.first().is_none_or(|o| o.lossless);
        table.row([
            s.variant.queue().to_string(),
            s.variant.api().to_string(),
            s.readers.to_string(),
            format!("{:.1}", s.median_per_reader() / 1e6),
            format!("{:.1}–{:.1}", lo / 1e6, hi / 1e6),
            format!("{:.1}", s.median_aggregate() / 1e6),
            if lossless {
                "–".to_string()
            } else {
                format!("{:.0}", s.median_lost())
            },
            format!("{}/{}", s.timed_out(), s.runs.len()),
            format!("{ratio:.2}"),
        ]);
        results.push(Json::obj([
            ("queue", Json::str(s.variant.queue())),
            ("api", Json::str(s.variant.api())),
            ("readers", Json::Int(s.readers as u64)),
            ("compared_with", Json::str(s.variant.baseline().api())),
            (
                "median_events_per_s_per_reader",
                Json::Num(s.median_per_reader()),
            ),
            (
                "median_events_per_s_all_readers",
                Json::Num(s.median_aggregate()),
            ),
            ("ratio_to_ringcore", Json::Num(ratio)),
            ("runs_events_per_s_per_reader", Json::nums(&per_reader)),
            (
                "runs_published",
                Json::Arr(s.runs.iter().map(|o| Json::Int(o.published)).collect()),
            ),
            (
                "runs_seen_per_reader",
                Json::Arr(
                    s.runs
                        .iter()
                        .map(|o| Json::Arr(o.readers.iter().map(|r| Json::Int(r.seen)).collect()))
                        .collect(),
                ),
            ),
            (
                "runs_lost_per_reader",
                Json::Arr(
                    s.runs
                        .iter()
                        .map(|o| Json::Arr(o.readers.iter().map(|r| Json::Int(r.lost)).collect()))
                        .collect(),
                ),
            ),
            ("runs_timed_out", Json::Int(s.timed_out() as u64)),
            ("lossless", Json::Bool(lossless)),
            ("errors", Json::Int(s.errors())),
        ]));
    }

    let find =
        |v: Impl, readers: usize| sums.iter().find(|s| s.variant == v && s.readers == readers);
    let mut targets = Vec::new();
    let mut target_json = Vec::new();
    let mut vs_peer = |key: &'static str, ours: Impl, peer: Impl, readers: usize| {
        let (Some(o), Some(p)) = (find(ours, readers), find(peer, readers)) else {
            return;
        };
        let ratio = ratio_to_ringcore(p);
        // Met when the peer is at most as fast as ringcore round for round (median), and
        // ringcore itself never needed its deadline.
        let met = ratio <= 1.0 && o.timed_out() == 0;
        targets.push(format!(
            "1W{readers}R {} {:.1} M/s per reader vs {} {} {:.1} M/s{}, peer ÷ ringcore \
             {ratio:.2}: {}",
            o.label(),
            o.median_per_reader() / 1e6,
            p.variant.queue(),
            p.variant.api(),
            p.median_per_reader() / 1e6,
            if p.timed_out() > 0 {
                format!(
                    " (timed out in {}/{} runs: collapsed)",
                    p.timed_out(),
                    p.runs.len()
                )
            } else {
                String::new()
            },
            if met { "met" } else { "MISSED" }
        ));
        target_json.push((key, Json::Bool(met)));
    };
    vs_peer(
        "1w1r_batch_at_or_above_disruptor",
        Impl::RingcoreGatedBatch,
        Impl::DisruptorBatch,
        1,
    );
    vs_peer(
        "1w1r_single_at_or_above_disruptor",
        Impl::RingcoreGatedSingle,
        Impl::DisruptorSingle,
        1,
    );
    vs_peer(
        "1w2r_batch_at_or_above_disruptor",
        Impl::RingcoreGatedBatch,
        Impl::DisruptorBatch,
        2,
    );
    if let Some(o) = find(Impl::RingcoreGatedBatch, 2) {
        let rate = o.median_per_reader();
        let met = rate >= TARGET_1W2R_PER_READER && o.timed_out() == 0;
        targets.push(format!(
            "1W2R {} {:.1} M/s per reader ({:.1} M/s all readers), 64 B slots, {SLOTS} slots, \
             batches of {BATCH}, default wait SpinThenYield; target at least {:.0} M/s per \
             reader: {}",
            o.label(),
            rate / 1e6,
            o.median_aggregate() / 1e6,
            TARGET_1W2R_PER_READER / 1e6,
            if met { "met" } else { "MISSED" }
        ));
        target_json.push(("1w2r_at_least_100m_per_reader", Json::Bool(met)));
    }

    let errors: u64 = sums.iter().map(Summary::errors).sum();
    let machine = machine_description();
    let readers_arg = cfg
        .readers
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let mut text = String::new();
    text.push_str(&format!(
        "broadcast peers: 1 writer, R readers, {PAYLOAD} B payloads in {SLOTS}-slot queues, \
         {} events per run, median of {} runs, batches of {BATCH}; threads unpinned\n\
         machine: {machine}\n\
         command: cargo run --release -p benches --bin broadcast_peers -- --events {} \
         --runs {} --readers {readers_arg} --timeout-ms {}\n\n",
        cfg.events,
        cfg.runs,
        cfg.events,
        cfg.runs,
        cfg.timeout.as_millis(),
    ));
    text.push_str(&table.render());
    text.push('\n');
    text.push_str(&format!(
        "`M ev/s per reader`: events delivered to each reader per second (the readers' mean \
         seen over the run's time, first thread start to last thread end); `all readers`: \
         the sum. `÷ ringcore`: the variant's per-reader rate over ringcore's in the same \
         round and with the same R, median over the rounds; disruptor batch is compared with \
         ringcore gated claim_wait, disruptor single and crossbeam-channel with ringcore \
         gated publish_wait, tokio broadcast (lossy) with ringcore overwrite. \
         crossbeam-channel broadcasts through one bounded({SLOTS}) channel per reader, the \
         writer sending each event to every channel. ringcore waits with SpinThenYield (64 \
         spins, then yield) unless the row says BusySpin; disruptor readers with \
         BusySpinWithSpinLoopHint, its producer spins; `timed out`: runs whose writer hit the {} ms deadline (their rate is what \
         they delivered until then). `lost per reader`: median of the readers' mean events \
         reported lost (Lagged) per run, lossy queues only.\n",
        cfg.timeout.as_millis()
    ));
    for t in &targets {
        text.push_str(&format!("target: {t}\n"));
    }
    if errors > 0 {
        text.push_str(&format!(
            "ERRORS: {errors} events missing, unaccounted for or corrupted\n"
        ));
        for s in sums.iter().filter(|s| s.errors() > 0) {
            text.push_str(&format!(
                "  {} R={}: {} errors\n",
                s.label(),
                s.readers,
                s.errors()
            ));
        }
    } else {
        text.push_str(
            "verified: every reader of every run checked every event it got (sequence, \
             length, payload); lossless queues delivered every published event to every \
             reader, lossy ones accounted for each (seen + lost = published)\n",
        );
    }

    if cfg.json {
        eprint!("{text}");
        let line = Json::obj([
            ("bench", Json::str("broadcast_peers")),
            ("payload_bytes", Json::Int(PAYLOAD as u64)),
            ("slots", Json::Int(SLOTS as u64)),
            ("batch", Json::Int(BATCH as u64)),
            ("events", Json::Int(cfg.events)),
            ("runs", Json::Int(cfg.runs as u64)),
            (
                "readers",
                Json::Arr(cfg.readers.iter().map(|&r| Json::Int(r as u64)).collect()),
            ),
            ("timeout_ms", Json::Int(cfg.timeout.as_millis() as u64)),
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
