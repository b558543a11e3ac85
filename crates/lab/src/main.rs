//! `semel-lab`: runs the delivery-semantics matrix against a real semel broker and writes the
//! table, a JSON file with every figure and an SVG chart.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use semel_lab::{CellConfig, Error, Fault, Semantics, report, run_matrix};

/// The delivery-semantics lab: at-most-once, at-least-once and exactly-once on a real semel
/// broker with librdkafka clients, under real faults, counted from a payment ledger.
#[derive(Debug, Parser)]
#[command(name = "semel-lab", version)]
struct Args {
    /// Uniquely numbered messages (charges) per cell.
    #[arg(long, default_value_t = 2000)]
    messages: u64,
    /// Semantics to run, comma separated: at-most-once, at-least-once, exactly-once (the
    /// consumer applies through the dedup store), exactly-once-ctp (a consume-transform-produce
    /// copier with send_offsets_to_transaction feeds a ledger that has no dedup check).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "at-most-once,at-least-once,exactly-once,exactly-once-ctp"
    )]
    semantics: Vec<Semantics>,
    /// Faults to inject, comma separated: none (nothing fails); lost-acks (a TCP proxy drops
    /// every n-th Produce answer and cuts that connection); producer-crash (the producer dies
    /// halfway, queue and in-flight requests purged; a new one resumes as its semantics
    /// would); consumer-crash (the consumer dies between its two steps, apply and offset
    /// commit, once the ledger holds about half; a new one resumes from the committed offset);
    /// broker-kill (SIGKILL while the producer is a little past half, then restart on the same
    /// port and data directory).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "none,lost-acks,producer-crash,consumer-crash,broker-kill"
    )]
    faults: Vec<Fault>,
    /// Directory for lab.json, lab.svg and lab.txt (created if missing).
    #[arg(long, default_value = "lab-out")]
    out: PathBuf,
    /// The semel broker binary [default: $SEMEL_BIN, else `semel` next to this binary].
    #[arg(long)]
    semel: Option<PathBuf>,
    /// Messages per transaction of the exactly-once producer.
    #[arg(long, default_value_t = 100)]
    transaction_size: u64,
    /// lost-acks: the proxy drops every n-th Produce answer.
    #[arg(long, default_value_t = 10)]
    cut_every: u64,
    /// A cell still running after this many seconds is stopped (and says so).
    #[arg(long, default_value_t = 60)]
    cell_timeout_s: u64,
    /// The broker's flush policy: always, interval:MS or os.
    #[arg(long, default_value = "always")]
    flush: String,
}

fn semel_binary(explicit: Option<PathBuf>) -> Result<PathBuf, Error> {
    if let Some(path) = explicit {
        return Ok(path);
    }
    if let Ok(path) = std::env::var("SEMEL_BIN") {
        return Ok(PathBuf::from(path));
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("semel")))
        .filter(|p| p.exists());
    beside.ok_or_else(|| {
        Error::Harness(
            "no semel binary: pass --semel PATH, set SEMEL_BIN, or `cargo build -p semel-broker --bin semel`"
                .to_owned(),
        )
    })
}

fn run(args: Args) -> Result<(), Error> {
    let semel = semel_binary(args.semel)?;
    if !semel.exists() {
        return Err(Error::Harness(format!(
            "{} does not exist",
            semel.display()
        )));
    }
    semel_e2e::set_semel_bin(semel.clone());
    std::fs::create_dir_all(&args.out)
        .map_err(|e| Error::Io(format!("create {}: {e}", args.out.display())))?;
    let work = tempfile::tempdir().map_err(|e| Error::Io(format!("temporary directory: {e}")))?;
    let config = CellConfig {
        messages: args.messages,
        transaction_size: args.transaction_size,
        cut_every: args.cut_every,
        cell_timeout: Duration::from_secs(args.cell_timeout_s),
        flush: args.flush.clone(),
        ..CellConfig::default()
    };
    let total = args.semantics.len() * args.faults.len();
    let started = Instant::now();
    let mut last_draw = Instant::now() - Duration::from_secs(1);
    let mut stderr = std::io::stderr();
    let cells = run_matrix(
        &args.semantics,
        &args.faults,
        &config,
        work.path(),
        &mut |i, s, f, p| {
            if last_draw.elapsed() < Duration::from_millis(100) {
                return;
            }
            last_draw = Instant::now();
            let width = 20usize;
            let done = (p.applied.min(p.messages) * width as u64)
                .checked_div(p.messages)
                .and_then(|d| usize::try_from(d).ok())
                .unwrap_or(width);
            let _ = write!(
                stderr,
                "\r\x1b[2K[{:>2}/{total}] [{}{}] {s} × {f}: sent {} acked {} applied {} of {}  ({:.0} s)",
                i + 1,
                "#".repeat(done),
                ".".repeat(width - done),
                p.sent,
                p.acked,
                p.applied,
                p.messages,
                started.elapsed().as_secs_f64()
            );
            let _ = stderr.flush();
        },
    )?;
    let _ = writeln!(
        stderr,
        "\r\x1b[2Kdone: {total} cells in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let table = report::table(&cells);
    let notes = report::notes(&cells);
    println!("{table}\n{notes}");
    let run_info = serde_json::json!({
        "messages_per_cell": args.messages,
        "transaction_size": args.transaction_size,
        "cut_every": args.cut_every,
        "flush": args.flush,
        "semel": semel.display().to_string(),
        "elapsed_s": started.elapsed().as_secs_f64(),
    });
    let json = report::json(&cells, run_info);
    let text = serde_json::to_string_pretty(&json).map_err(|e| Error::Io(format!("json: {e}")))?;
    let write = |name: &str, contents: &str| {
        let path = args.out.join(name);
        std::fs::write(&path, contents)
            .map_err(|e| Error::Io(format!("write {}: {e}", path.display())))
    };
    write("lab.json", &text)?;
    write("lab.svg", &report::svg(&cells))?;
    write("lab.txt", &format!("{table}\n{notes}"))?;
    println!("wrote {}/lab.json, lab.svg, lab.txt", args.out.display());
    if cells.iter().any(|c| report::verdict(c) != "ok") {
        return Err(Error::Harness(
            "a semantics did not keep its promise (see the verdict column)".to_owned(),
        ));
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("semel-lab: {e}");
            ExitCode::FAILURE
        }
    }
}
