//! `secagg`: simulate whole rounds and derive SecAgg+ parameters.
//!
//! ```text
//! secagg simulate [--clients N] [--dim M] [--bits B] [--dropout F] ... [--prg aes] [--json]
//! secagg params --clients N [--corrupt F] [--dropout F] [--malicious] [--json]
//! ```
//!
//! `simulate` runs one round in this process through
//! [`secagg::simulation::run_with_progress`] (every message is encoded and
//! decoded) and prints the per-phase times, bytes per client, survivor counts,
//! the PRG floor of DESIGN.md section 8 and the server's own peak heap (this
//! binary installs [`secagg::bench::ServerHeap`] to count it). The result
//! is checked here too: the server's survivors must be the clients that
//! sent their masked input, and its sum the one recomputed from their
//! inputs. Exit codes: 0 when the round finished with the plaintext sum,
//! 1 when it aborted, the sum differs, the OS random source failed or the
//! output could not be written, 2 for bad arguments (and for a run that needs more memory than the
//! machine has available).

use std::fmt::{self, Write as _};
use std::io::IsTerminal as _;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use chacha20::ChaCha20Rng;
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand_core::{CryptoRng, SeedableRng as _, TryCryptoRng};
use secagg::bench::{Floor, server_heap_target};
use secagg::dp::{DpConfig, DpError};
use secagg::error::ParamsError;
use secagg::params::{MAX_CLIENTS, MAX_DIM};
use secagg::simulation::{
    Dropouts, Inputs, RandomInputs, Report, run_concurrent, run_with_progress,
};
use secagg::{Aggregate, AwaitingShares, ClientIndex, Graph, Params, Phase, Prg, ServerModel};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// Counts the server's own heap in `simulate` (`server_peak_heap_bytes`):
/// allocations inside the server's calls, apart from the clients living in
/// the same process.
#[global_allocator]
static HEAP: secagg::bench::ServerHeap = secagg::bench::ServerHeap::new();

/// Exit code of a round that aborted or whose sum differs from the plaintext sum.
const EXIT_FAILED: u8 = 1;
/// Exit code of bad arguments (the same as clap's usage errors).
const EXIT_USAGE: u8 = 2;

/// The smallest dropout fraction the SecAgg+ parameters are derived for,
/// even when the simulation drops fewer clients.
const MIN_DROPOUT_BUDGET: f64 = 0.05;

/// What `--help` says of the exit codes (those of the module documentation).
const EXIT_CODES: &str = "Exit codes: 0 the round finished with the plaintext sum (or the \
    parameters were printed); 1 the round aborted or its sum differs, the OS random source \
    failed, or the output could not be written; 2 bad arguments, or a run needing more memory \
    than is available.";

/// Masked secure aggregation (SecAgg / SecAgg+): simulations and parameters.
#[derive(Debug, Parser)]
#[command(
    name = "secagg",
    version,
    about,
    propagate_version = true,
    after_help = EXIT_CODES
)]
struct Cli {
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Run one whole round in this process and print timings and sizes.
    #[command(after_help = EXIT_CODES)]
    Simulate(SimulateArgs),
    /// Print the SecAgg+ (k, t) derived for a roster.
    #[command(after_help = EXIT_CODES)]
    Params(ParamsArgs),
}

/// Arguments of `secagg simulate`.
#[derive(Debug, Clone, Args)]
struct SimulateArgs {
    /// Number of clients n.
    #[arg(long, default_value_t = 100, value_parser = clients_parser(), allow_negative_numbers = true)]
    clients: u32,
    /// Vector length m, 0..=2^28. m = 0 is a valid round (spec/params.md
    /// section 2 bounds m only from above): the clients agree keys, share
    /// their secrets and send empty masked vectors, the sum is empty, and
    /// there is no mask PRG work, so no PRG floor is reported. --dp needs
    /// m >= 1 (spec/dp.md).
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(..=i64::from(MAX_DIM)), allow_negative_numbers = true)]
    dim: u32,
    /// Modulus bits b: sums are taken mod 2^b.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u8).range(1..=64), allow_negative_numbers = true)]
    bits: u8,
    /// Fraction of clients that drop after sending their shares (R1), before
    /// their masked input (R2): the expensive case for the server.
    #[arg(long, default_value_t = 0.0, value_parser = fraction, allow_negative_numbers = true)]
    dropout: f64,
    /// Fraction of clients that drop after advertising keys (R0), before
    /// sending shares (R1).
    #[arg(long, default_value_t = 0.0, value_parser = fraction, allow_negative_numbers = true)]
    drop_before_shares: f64,
    /// Fraction of clients that send their masked input (R2) but never
    /// answer the unmask request (R3).
    #[arg(long, default_value_t = 0.0, value_parser = fraction, allow_negative_numbers = true)]
    drop_during_unmask: f64,
    /// Fraction of clients assumed to collude with the server, for the
    /// SecAgg+ (k, t) derivation (unused, and reported as null, when
    /// --degree or --complete gives the graph).
    #[arg(long, default_value_t = 0.05, value_parser = fraction, allow_negative_numbers = true)]
    corrupt: f64,
    /// Use a Harary graph of this degree k (even, 2..n) with a random label
    /// seed; 0 means the complete graph.
    #[arg(long, conflicts_with = "complete", allow_negative_numbers = true)]
    degree: Option<u32>,
    /// Use the complete graph (SecAgg), k = n - 1.
    #[arg(long)]
    complete: bool,
    /// Shamir threshold t (2..=k+1). Without it: the derived t, or a
    /// majority of the k + 1 share holders when the graph is given.
    #[arg(long, allow_negative_numbers = true)]
    threshold: Option<u32>,
    /// Draw every random value (keys, inputs, who drops) from a generator
    /// seeded with this number, to replay a run. Without it the generator
    /// is ChaCha20 keyed with 32 bytes from the OS random source (a failure
    /// there is exit code 1).
    #[arg(long, allow_negative_numbers = true)]
    seed: Option<u64>,
    /// Run the malicious-server model: Ed25519 identities, signed keys and
    /// masking sets, and the consistency round (spec/protocol.md section
    /// 4.5). Derived parameters use the malicious class of the SecAgg+
    /// derivation; with --degree/--complete/--threshold, the corrupt bound
    /// is 0 and t must make the survivor set unique (2t > k, or 2t > n).
    #[arg(long)]
    malicious: bool,
    /// Distributed differential privacy, e.g.
    /// `--dp epsilon=1,delta=1e-5,clip=1`: each client's float vector of
    /// --dim elements (norm above the clip) goes through the DP encoding
    /// (spec/dp.md); the round's vector length is --dim padded to a power of
    /// two; the report gives the privacy reached and the errors.
    #[arg(long, value_parser = dp_spec)]
    dp: Option<DpSpec>,
    /// The mask PRG the server puts in the parameters (spec/crypto.md
    /// section 5): AES-128-CTR is faster on CPUs with AES instructions.
    #[arg(long, value_enum, default_value_t = PrgArg::Chacha20)]
    prg: PrgArg,
    /// Run the clients of each phase side by side on every core, each
    /// drawing from its own stream (`secagg::simulation::run_concurrent`),
    /// for rounds of many clients. With the same --seed the inputs, who
    /// drops and so the sum are those of the run without it (the keys and
    /// masks are not), and the clients' times are taken while they share
    /// the machine.
    #[arg(long, conflicts_with = "dp")]
    concurrent_clients: bool,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

/// The `--prg` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PrgArg {
    /// ChaCha20 (the default).
    Chacha20,
    /// AES-128-CTR.
    Aes,
}

impl From<PrgArg> for Prg {
    fn from(p: PrgArg) -> Self {
        match p {
            PrgArg::Chacha20 => Prg::ChaCha20,
            PrgArg::Aes => Prg::Aes128Ctr,
        }
    }
}

/// The name of `prg` in the report.
fn prg_name(prg: Prg) -> &'static str {
    match prg {
        Prg::ChaCha20 => "chacha20",
        Prg::Aes128Ctr => "aes128ctr",
    }
}

/// The `--dp` option: `epsilon=E,delta=D,clip=C`.
#[derive(Debug, Clone, Copy)]
struct DpSpec {
    epsilon: f64,
    delta: f64,
    clip: f64,
}

/// Parses `--dp`; the values' ranges are [`DpConfig::new`]'s to check.
fn dp_spec(s: &str) -> Result<DpSpec, String> {
    let (mut epsilon, mut delta, mut clip) = (None, None, None);
    for part in s.split(',') {
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| format!("`{part}` is not key=value"))?;
        let value: f64 = value.trim().parse().map_err(|e| format!("{key}: {e}"))?;
        let slot = match key.trim() {
            "epsilon" => &mut epsilon,
            "delta" => &mut delta,
            "clip" => &mut clip,
            other => return Err(format!("unknown DP key `{other}` (epsilon, delta, clip)")),
        };
        // A repeated key is refused rather than one of its values dropped.
        if slot.replace(value).is_some() {
            return Err(format!("DP key `{}` given twice", key.trim()));
        }
    }
    match (epsilon, delta, clip) {
        (Some(epsilon), Some(delta), Some(clip)) => Ok(DpSpec {
            epsilon,
            delta,
            clip,
        }),
        _ => Err("--dp needs epsilon=, delta= and clip=".to_owned()),
    }
}

/// Arguments of `secagg params`.
#[derive(Debug, Clone, Args)]
struct ParamsArgs {
    /// Number of clients n.
    #[arg(long, value_parser = clients_parser(), allow_negative_numbers = true)]
    clients: u32,
    /// Fraction of clients that may collude with the server.
    #[arg(long, default_value_t = 0.05, value_parser = fraction, allow_negative_numbers = true)]
    corrupt: f64,
    /// Fraction of clients that may drop out.
    #[arg(long, default_value_t = 0.05, value_parser = fraction, allow_negative_numbers = true)]
    dropout: f64,
    /// Derive for the malicious-server model (`Params::secagg_plus_malicious`,
    /// spec/params.md section 4.7), as `simulate --malicious` does.
    #[arg(long)]
    malicious: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// The accepted roster sizes, `2..=MAX_CLIENTS`.
fn clients_parser() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(2..=i64::from(MAX_CLIENTS))
}

/// Parses a fraction in `[0, 1)`; `-0` is 0 (it is in the range, and would
/// otherwise be printed back as `-0`).
fn fraction(s: &str) -> Result<f64, String> {
    let f: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))?;
    if (0.0..1.0).contains(&f) {
        Ok(f.abs())
    } else {
        Err(format!("{s} is not a fraction in [0, 1)"))
    }
}

/// Arguments that parse but do not make a round: exit code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
struct UsageError(String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why `simulate` gave no [`Outcome`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum RunError {
    /// The arguments do not make a round: exit code 2.
    Usage(UsageError),
    /// A `--dp` round aborted (the DP layer returns no report then): exit
    /// code 1, as for any other aborted round.
    Aborted(String),
    /// The OS random source failed, so no round could be drawn: exit code 1.
    Randomness(String),
}

impl RunError {
    /// The exit code `main` returns for this error.
    fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => EXIT_USAGE,
            Self::Aborted(_) | Self::Randomness(_) => EXIT_FAILED,
        }
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(e) => e.fmt(f),
            Self::Aborted(e) | Self::Randomness(e) => f.write_str(e),
        }
    }
}

impl From<UsageError> for RunError {
    fn from(e: UsageError) -> Self {
        Self::Usage(e)
    }
}

fn main() -> ExitCode {
    // Usage errors exit with code 2 inside `parse`.
    let cli = Cli::parse();
    match cli.command {
        Command::Simulate(args) => simulate_command(&args),
        Command::Params(args) => params_command(&args),
    }
}

/// `secagg simulate`: runs the round, prints the table or the JSON object.
fn simulate_command(args: &SimulateArgs) -> ExitCode {
    let bar = std::io::stderr()
        .is_terminal()
        .then(|| PhaseBar::new(args.clients));
    let mut on_progress = |phase: Phase, done: usize, total: usize| {
        if let Some(bar) = &bar {
            bar.update(phase, done, total);
        }
    };
    let outcome = simulate(args, &mut on_progress);
    if let Some(bar) = &bar {
        bar.finish();
    }
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(e) => return fail(e.exit_code(), &e),
    };
    let printed = if args.json {
        emit(&format!("{}\n", outcome.to_json()))
    } else {
        emit(&outcome.table())
    };
    match (outcome.error(), printed) {
        (Some(e), _) => fail(EXIT_FAILED, &e),
        (None, Err(code)) => code,
        (None, Ok(())) => ExitCode::SUCCESS,
    }
}

/// `secagg params`: prints the derived (k, t).
fn params_command(args: &ParamsArgs) -> ExitCode {
    match derive_params(args) {
        Ok(derived) => {
            let printed = if args.json {
                emit(&format!("{}\n", derived.to_json()))
            } else {
                emit(&derived.text())
            };
            printed.err().unwrap_or(ExitCode::SUCCESS)
        }
        Err(e) => fail(EXIT_USAGE, &e),
    }
}

/// Writes `text` to stdout. A closed or failing stdout (`secagg ... | head`)
/// is reported on stderr with exit code 1 instead of the panic of `print!`.
///
/// # Errors
/// The exit code to return when stdout could not take the text.
fn emit(text: &str) -> Result<(), ExitCode> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| fail(EXIT_FAILED, &format!("writing the output: {e}")))
}

/// Prints `error: {e}` on stderr (ignoring a stderr that cannot take it)
/// and returns `code`.
fn fail(code: u8, e: &dyn fmt::Display) -> ExitCode {
    let _ = writeln!(std::io::stderr().lock(), "error: {e}");
    ExitCode::from(code)
}

// ----- Randomness -----

/// The deterministic generator behind `--seed`: the `chacha20` crate's
/// `ChaCha20Rng::seed_from_u64`, as the conformance vectors use it
/// (src/conformance.rs). Not for real rounds: anyone who knows the seed
/// knows every key and input.
fn seeded_rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// The generator of a run without `--seed`: ChaCha20 keyed with 32 bytes
/// drawn once from `source` (the OS random source, `getrandom`, in
/// [`simulate`]), so that the source's only chance to fail is here, where
/// it becomes an error message instead of a panic deep inside a round.
///
/// # Errors
/// [`RunError::Randomness`] naming the OS random source and its error.
fn os_seeded_rng<S: TryCryptoRng + ?Sized>(source: &mut S) -> Result<ChaCha20Rng, RunError> {
    let mut key = <ChaCha20Rng as rand_core::SeedableRng>::Seed::default();
    source
        .try_fill_bytes(&mut key)
        .map_err(|e| RunError::Randomness(format!("the OS random source failed: {e}")))?;
    Ok(ChaCha20Rng::from_seed(key))
}

/// A uniform value in `0..bound` (`bound > 0`), by rejection: values below
/// `2^64 mod bound` are redrawn so every residue is equally likely.
fn below<R: CryptoRng + ?Sized>(rng: &mut R, bound: u64) -> u64 {
    let reject = bound.wrapping_neg() % bound;
    loop {
        let x = rng.next_u64();
        if x >= reject {
            return x % bound;
        }
    }
}

// ----- The simulation -----

/// A finished `simulate` run: what was asked, what ran, what came out.
#[derive(Debug)]
struct Outcome {
    params: Params,
    dropouts: Dropouts,
    report: Report,
    floor: Option<Floor>,
    seed: Option<u64>,
    /// Whether the clients ran side by side (`--concurrent-clients`).
    concurrent: bool,
    /// The corrupt fraction the (k, t) derivation used: `None` when
    /// `--degree` or `--complete` gave the graph, so nothing was derived.
    corrupt: Option<f64>,
    /// The DP figures of a `--dp` run (`None` when its round aborted).
    dp: Option<secagg::dp::SimulationReport>,
    /// What [`check_aggregate`] found wrong with the server's aggregate.
    check: Option<String>,
}

/// Runs `secagg simulate` for `args`, OS randomness unless `--seed`.
///
/// # Errors
/// As [`simulate_from`].
fn simulate(
    args: &SimulateArgs,
    progress: &mut dyn FnMut(Phase, usize, usize),
) -> Result<Outcome, RunError> {
    simulate_from(args, &mut getrandom::SysRng, progress)
}

/// [`simulate`] with `os` as the OS random source, which keys the run's
/// generator ([`os_seeded_rng`]) unless `--seed` is given.
///
/// # Errors
/// [`RunError::Usage`] when the arguments do not make a round (fractions
/// summing above 1, parameters [`Params::new`] rejects, no SecAgg+
/// parameters, more memory than this machine has); [`RunError::Aborted`]
/// when a `--dp` round aborted; [`RunError::Randomness`] when `os` failed.
fn simulate_from<S: TryCryptoRng + ?Sized>(
    args: &SimulateArgs,
    os: &mut S,
    progress: &mut dyn FnMut(Phase, usize, usize),
) -> Result<Outcome, RunError> {
    let mut rng = match args.seed {
        Some(seed) => seeded_rng(seed),
        None => os_seeded_rng(os)?,
    };
    simulate_with(args, &mut rng, progress)
}

/// [`simulate`] with the randomness `rng`. Draws, in order: the parameters'
/// label seed, who drops, the inputs, then the round's own randomness.
fn simulate_with<R: CryptoRng + ?Sized>(
    args: &SimulateArgs,
    rng: &mut R,
    progress: &mut dyn FnMut(Phase, usize, usize),
) -> Result<Outcome, RunError> {
    let counts = dropout_counts(args)?;
    let dp = match args.dp {
        Some(spec) => Some(
            DpConfig::new(
                spec.epsilon,
                spec.delta,
                spec.clip,
                args.dim,
                args.bits,
                args.clients,
            )
            .map_err(|e| match e {
                DpError::Dimension => UsageError(format!(
                    "--dp needs --dim in 1..={MAX_DIM} (spec/dp.md), not {}: {e}",
                    args.dim
                )),
                e => UsageError(format!("--dp: {e}")),
            })?,
        ),
        None => None,
    };
    let mut params = choose_params(args, rng, dp.as_ref())?;
    if let Some(config) = &dp {
        params = params
            .with_dp(config)
            .map_err(|e| UsageError(format!("--dp: {e}")))?;
    }
    // Every client but those dropping before shares answers R1.
    let share_senders = args.clients - u32::try_from(counts[0]).unwrap_or(args.clients);
    check_memory(
        &params,
        dp.is_some().then_some(args.dim),
        share_senders,
        available_memory(),
    )?;
    let dropouts = choose_dropouts(args.clients, counts, rng);
    let (report, dp_report, check) = match &dp {
        None => {
            let inputs = RandomInputs::new(&params, rng);
            let report = if args.concurrent_clients {
                run_concurrent(&params, &inputs, &dropouts, rng, progress)
            } else {
                run_with_progress(&params, &inputs, &dropouts, rng, progress)
            };
            let check = report
                .result
                .as_ref()
                .ok()
                .and_then(|agg| check_aggregate(&params, &inputs, &dropouts, agg));
            (report, None, check)
        }
        Some(config) => {
            let inputs = float_inputs(args.clients, args.dim, 2.0 * config.clip, rng);
            match secagg::dp::simulate_with_progress(
                &params, config, &inputs, &dropouts, rng, progress,
            ) {
                Ok((dp, report)) => {
                    // The DP layer encodes the inputs itself: only the
                    // survivor set can be checked from here.
                    let check = report
                        .result
                        .as_ref()
                        .ok()
                        .and_then(|agg| check_survivors(args.clients, &dropouts, agg));
                    (report, Some(dp), check)
                }
                Err(secagg::dp::SimulationError::Round(e)) => {
                    return Err(RunError::Aborted(format!("the DP round aborted: {e}")));
                }
                Err(e) => return Err(UsageError(format!("--dp: {e}")).into()),
            }
        }
    };
    let floor = Floor::measure(&params, &dropouts, &report);
    Ok(Outcome {
        params,
        dropouts,
        report,
        floor,
        seed: args.seed,
        concurrent: args.concurrent_clients,
        corrupt: (!args.complete && args.degree.is_none()).then_some(args.corrupt),
        dp: dp_report,
        check,
    })
}

/// Checks the server's aggregate apart from the library's own
/// [`Report::ok`] (which sums over the survivors the server names): the
/// survivors must be exactly the clients that sent their masked input, and
/// the sum, recomputed here element by element from their inputs, must be
/// the server's. `None` when both hold, else what differs.
fn check_aggregate<I: Inputs + ?Sized>(
    params: &Params,
    inputs: &I,
    dropouts: &Dropouts,
    agg: &Aggregate,
) -> Option<String> {
    if let Some(e) = check_survivors(params.clients(), dropouts, agg) {
        return Some(e);
    }
    let modulus_mask = u64::MAX >> (64 - u32::from(params.bits()));
    let mut sum = vec![0u64; params.dim() as usize];
    for &u in &agg.survivors {
        for (s, x) in sum.iter_mut().zip(inputs.input(u).iter()) {
            *s = s.wrapping_add(*x) & modulus_mask;
        }
    }
    if sum.len() != agg.sum.len() {
        return Some(format!(
            "the aggregate has {} elements, not m = {}",
            agg.sum.len(),
            sum.len()
        ));
    }
    let first = sum.iter().zip(&agg.sum).position(|(a, b)| a != b)?;
    Some(format!(
        "the aggregate differs from the plaintext sum of the survivors' inputs \
         (first at element {first})"
    ))
}

/// The survivor half of [`check_aggregate`]: the server's survivors must be
/// the clients `1..=n` less those that dropped before their masked input
/// (those that drop during unmask are still in the sum).
fn check_survivors(n: u32, dropouts: &Dropouts, agg: &Aggregate) -> Option<String> {
    // One pass over the dropout lists (a million clients with 5 % dropping
    // would otherwise be 5 * 10^10 comparisons).
    let mut gone = vec![false; n as usize + 1];
    for &i in dropouts
        .before_keys
        .iter()
        .chain(&dropouts.after_keys)
        .chain(&dropouts.after_shares)
    {
        if let Some(g) = gone.get_mut(i as usize) {
            *g = true;
        }
    }
    let expected: Vec<ClientIndex> = (1..=n).filter(|&i| !gone[i as usize]).collect();
    (agg.survivors != expected).then(|| {
        format!(
            "the server summed {} clients, not the {} that sent their masked input",
            agg.survivors.len(),
            expected.len()
        )
    })
}

/// Bytes of memory a `simulate` run cannot do without, a lower bound: the
/// four vectors of m `u64` live at once while the result is checked (the
/// server's sum, the library's expected sum, [`check_aggregate`]'s own and
/// the input it is adding); the states of the `share_senders` clients that
/// answer R1, which the round driver holds together until R2, each with
/// the keys it derived with its k neighbours (a 32-byte share-encryption
/// key and a 32-byte mask key each, at least 64 bytes); and with `--dp`
/// the n float inputs of `--dim` elements and their n encodings of the
/// padded m, which `secagg::dp::simulate_with_progress` holds at once.
fn memory_needed(params: &Params, dp_dim: Option<u32>, share_senders: u32) -> u64 {
    let lane = std::mem::size_of::<u64>() as u64;
    let row = u64::from(params.dim()) * lane;
    let state = std::mem::size_of::<AwaitingShares>() as u64 + 64 * u64::from(params.degree());
    let dp = dp_dim.map_or(0, |dim| {
        u64::from(params.clients()) * (u64::from(dim) * lane + row)
    });
    4 * row + u64::from(share_senders) * state + dp
}

/// The memory the kernel says a new process can still get (`MemAvailable`
/// of /proc/meminfo), on Linux; `None` elsewhere or if unreadable.
fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Refuses a run whose [`memory_needed`] is above `available` (when known),
/// instead of letting it die of an allocation failure after minutes.
///
/// # Errors
/// [`UsageError`] naming both figures.
fn check_memory(
    params: &Params,
    dp_dim: Option<u32>,
    share_senders: u32,
    available: Option<u64>,
) -> Result<(), UsageError> {
    let needed = memory_needed(params, dp_dim, share_senders);
    match available {
        Some(available) if needed > available => {
            let gib = |b: u64| b as f64 / f64::from(1u32 << 30);
            Err(UsageError(format!(
                "n = {}, m = {}{} needs at least {:.1} GiB of memory; {:.1} GiB is available",
                params.clients(),
                params.dim(),
                match dp_dim {
                    Some(dim) => format!(" (--dim {dim} padded, with --dp)"),
                    None => String::new(),
                },
                gib(needed),
                gib(available)
            )))
        }
        _ => Ok(()),
    }
}

/// round(F * n) clients per dropout category, in protocol order: before
/// shares, after shares, during unmask.
///
/// # Errors
/// When the fractions sum above 1 or the rounded counts exceed n.
fn dropout_counts(args: &SimulateArgs) -> Result<[usize; 3], UsageError> {
    let fractions = [
        args.drop_before_shares,
        args.dropout,
        args.drop_during_unmask,
    ];
    let sum: f64 = fractions.iter().sum();
    if sum > 1.0 {
        return Err(UsageError(format!(
            "the dropout fractions (--drop-before-shares {}, --dropout {}, \
             --drop-during-unmask {}) sum to {sum}, above 1",
            fractions[0], fractions[1], fractions[2]
        )));
    }
    let n = args.clients as usize;
    // Each fraction is in [0, 1), so each count is in 0..=n.
    let counts = fractions.map(|f| (f * n as f64).round() as usize);
    let total: usize = counts.iter().sum();
    if total > n {
        return Err(UsageError(format!(
            "the dropout fractions round to {total} clients, more than the {n} in the roster"
        )));
    }
    Ok(counts)
}

/// The round's parameters: the SecAgg+ derivation unless `--degree`,
/// `--complete` or `--threshold` override it.
///
/// # Errors
/// When [`Params::new`] or [`Params::secagg_plus`] rejects the result.
fn choose_params<R: CryptoRng + ?Sized>(
    args: &SimulateArgs,
    rng: &mut R,
    dp: Option<&DpConfig>,
) -> Result<Params, UsageError> {
    let (n, b) = (args.clients, args.bits);
    let m = match dp {
        Some(config) => config
            .padded_dim()
            .ok()
            .and_then(|d| u32::try_from(d).ok())
            .ok_or_else(|| UsageError("--dp: the padded dimension is too large".to_owned()))?,
        None => args.dim,
    };
    let params = choose_graph(args, rng, n, b, m)?.with_prg(args.prg.into());
    if !args.malicious || params.is_malicious() {
        return Ok(params);
    }
    let (t, k) = (params.threshold(), params.degree());
    params
        .with_model(ServerModel::Malicious { corrupt: 0 })
        .map_err(|e| UsageError(format!("--malicious with t = {t} and k = {k}: {e}")))
}

/// The graph and threshold of [`choose_params`].
fn choose_graph<R: CryptoRng + ?Sized>(
    args: &SimulateArgs,
    rng: &mut R,
    n: u32,
    b: u8,
    m: u32,
) -> Result<Params, UsageError> {
    // The library's error, after the flag whose value it refuses.
    let invalid = |t: u32, k: u32, e: secagg::Error| {
        let flag = match e {
            secagg::Error::Params(ParamsError::Degree) => match args.degree {
                Some(d) => format!("--degree {d} with --clients {n}: "),
                None => String::new(),
            },
            secagg::Error::Params(ParamsError::Threshold) => match args.threshold {
                Some(_) => format!("--threshold {t} with k = {k}: "),
                None => format!("t = {t} with k = {k}: "),
            },
            _ => String::new(),
        };
        UsageError(format!("{flag}{e}"))
    };
    let graph = match args.degree {
        _ if args.complete => Some(Graph::Complete),
        Some(0) => Some(Graph::Complete),
        Some(degree) => {
            let mut seed = [0u8; 32];
            rng.fill_bytes(&mut seed);
            Some(Graph::Harary { degree, seed })
        }
        None => None,
    };
    match graph {
        Some(graph) => {
            let k = match graph {
                Graph::Complete => n - 1,
                Graph::Harary { degree, .. } => degree,
            };
            let t = args.threshold.unwrap_or_else(|| majority(k));
            Params::new(n, t, b, m, graph).map_err(|e| invalid(t, k, e))
        }
        None => {
            let budget = (args.drop_before_shares + args.dropout + args.drop_during_unmask)
                .max(MIN_DROPOUT_BUDGET);
            let derive = if args.malicious {
                Params::secagg_plus_malicious
            } else {
                Params::secagg_plus
            };
            let derived = derive(n, b, m, args.corrupt, budget, rng).map_err(|e| {
                UsageError(format!(
                    "no SecAgg+ parameters for {n} clients, {} corrupt, {budget} dropout: {e}",
                    args.corrupt
                ))
            })?;
            match args.threshold {
                Some(t) => Params::new(n, t, b, m, derived.graph().clone())
                    .map_err(|e| invalid(t, derived.degree(), e)),
                None => Ok(derived),
            }
        }
    }
}

/// A majority of the k + 1 holders of each secret: `floor((k + 1) / 2) + 1`,
/// at least 2 and at most k + 1.
fn majority(k: u32) -> u32 {
    let holders = k.saturating_add(1);
    (holders / 2 + 1).min(holders).max(2)
}

/// Draws disjoint random sets of `counts[0]`, `counts[1]`, `counts[2]`
/// clients (a Fisher-Yates prefix): they drop before shares, after shares
/// and during unmask. Each list is sorted.
fn choose_dropouts<R: CryptoRng + ?Sized>(n: u32, counts: [usize; 3], rng: &mut R) -> Dropouts {
    let mut order: Vec<ClientIndex> = (1..=n).collect();
    let picked: usize = counts.iter().sum::<usize>().min(order.len());
    for i in 0..picked {
        let j = i + below(rng, (order.len() - i) as u64) as usize;
        order.swap(i, j);
    }
    let mut rest = &order[..picked];
    let mut take = |count: usize| {
        let (head, tail) = rest.split_at(count.min(rest.len()));
        rest = tail;
        let mut list = head.to_vec();
        list.sort_unstable();
        list
    };
    Dropouts {
        before_keys: Vec::new(),
        after_keys: take(counts[0]),
        after_shares: take(counts[1]),
        during_consistency: Vec::new(),
        during_unmask: take(counts[2]),
    }
}

/// One float vector of `dim` elements per client, each of L2 norm `norm`
/// (uniform direction from the generator; the DP encoding clips it).
fn float_inputs<R: CryptoRng + ?Sized>(
    clients: u32,
    dim: u32,
    norm: f64,
    rng: &mut R,
) -> Vec<Vec<f64>> {
    (0..clients)
        .map(|_| {
            let v: Vec<f64> = (0..dim)
                .map(|_| {
                    (below(rng, 1 << 53) as f64) / f64::from(1u32 << 26) / f64::from(1u32 << 27)
                        - 0.5
                })
                .collect();
            let len = v
                .iter()
                .map(|x| x * x)
                .sum::<f64>()
                .sqrt()
                .max(f64::MIN_POSITIVE);
            v.into_iter().map(|x| x * norm / len).collect()
        })
        .collect()
}

// ----- Output -----

/// The phases as the table and the JSON name them.
const PHASES: [(&str, &str); 5] = [
    ("R0 AdvertiseKeys", "advertise_keys"),
    ("R1 ShareKeys", "share_keys"),
    ("R2 MaskedInput", "masked_input"),
    ("Consistency", "consistency"),
    ("R3 Unmask", "unmask"),
];

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `x` for the table with `digits` after the point (as given when `None`),
/// in exponent notation outside `[1e-4, 1e12)` where the fixed form would
/// print only zeros or hundreds of digits; `not finite` for NaN or an
/// infinity.
fn figure(x: f64, digits: Option<usize>) -> String {
    let plain = x == 0.0 || (1e-4..1e12).contains(&x.abs());
    match (x.is_finite(), plain, digits) {
        (false, _, _) => "not finite".to_owned(),
        (true, true, Some(d)) => format!("{x:.d$}"),
        (true, true, None) => format!("{x}"),
        (true, false, Some(d)) => format!("{x:.d$e}"),
        (true, false, None) => format!("{x:e}"),
    }
}

/// `num / den` as `1.234 x`, or `no ratio, divisor 0` when the quotient is
/// not a finite number (a zero or subnormal divisor).
fn ratio(num: f64, den: f64) -> String {
    let r = num / den;
    if r.is_finite() {
        format!("{r:.3} x")
    } else {
        "no ratio, divisor 0".to_owned()
    }
}

/// `1234567` as `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1 thread`, `2 threads`.
fn threads(n: usize) -> String {
    if n == 1 {
        "1 thread".to_owned()
    } else {
        format!("{n} threads")
    }
}

/// The server model as printed: `malicious` or `semi-honest`.
fn model_name(params: &Params) -> &'static str {
    if params.is_malicious() {
        "malicious"
    } else {
        "semi-honest"
    }
}

/// The graph kind as printed: `complete` or `harary`.
fn graph_kind(params: &Params) -> &'static str {
    match params.graph() {
        Graph::Complete => "complete",
        Graph::Harary { .. } => "harary",
    }
}

impl Outcome {
    /// Why the run failed: the round's error, or the sum differing from the
    /// plaintext sum. `None` when it succeeded.
    fn error(&self) -> Option<String> {
        match &self.report.result {
            Err(e) => Some(format!("round aborted: {e}")),
            Ok(_) if !self.report.ok() => {
                Some("the aggregate differs from the plaintext sum".to_owned())
            }
            Ok(_) => self.check.clone(),
        }
    }

    /// Clients the server named as misbehaving.
    fn misbehaving(&self) -> usize {
        self.report
            .result
            .as_ref()
            .map_or(0, |agg| agg.misbehaved.len())
    }

    /// SHA-256 of the aggregate's elements as 8-byte little-endian words,
    /// in hex: runs with the same `--seed` give the same digest. `None` when
    /// the round aborted.
    fn sum_digest(&self) -> Option<String> {
        let agg = self.report.result.as_ref().ok()?;
        let mut h = Sha256::new();
        for x in &agg.sum {
            h.update(x.to_le_bytes());
        }
        let mut hex = String::with_capacity(64);
        for byte in h.finalize() {
            // Writing to a String cannot fail.
            let _ = write!(hex, "{byte:02x}");
        }
        Some(hex)
    }

    /// The bit-packed size of one input vector, `ceil(m * b / 8)`.
    fn packed_vector(&self) -> u64 {
        (u64::from(self.params.dim()) * u64::from(self.params.bits())).div_ceil(8)
    }

    /// The server's peak heap against its target, for the table.
    fn server_heap(&self) -> String {
        let mib = |bytes: u64| bytes as f64 / f64::from(1u32 << 20);
        let target = format!(
            "target 2 m lane + 64 MiB = {:.1} MiB",
            mib(server_heap_target(self.params.dim()))
        );
        match self.report.server_peak_heap {
            Some(peak) => format!("{:.1} MiB ({target})", mib(peak)),
            None => format!("not measured ({target})"),
        }
    }

    /// The run as one JSON object.
    fn to_json(&self) -> Value {
        let r = &self.report;
        let p = &self.params;
        let mut timings = serde_json::Map::new();
        for ((_, key), t) in PHASES.iter().zip(&r.times) {
            timings.insert(
                (*key).to_owned(),
                json!({ "server": ms(t.server), "client_mean": ms(t.client_mean) }),
            );
        }
        let floor = self.floor.map(|f| {
            json!({
                "threads": f.threads,
                "keystream_bytes_per_s_one_thread": f.rate,
                "client_bytes": f.client_bytes,
                "client_ms": ms(f.client()),
                "client_ratio": ms(r.times[2].client_mean) / ms(f.client()).max(1e-9),
                "server_bytes": f.server_bytes,
                "server_ms": f.server().map(ms),
                "server_ratio": f.server().map(|s| ms(r.times[4].server) / ms(s).max(1e-9)),
                "agreements_per_s_one_thread": f.public_key.agreement_rate,
                "decompress_per_s_one_thread": f.public_key.decompress_rate,
                "client_multiscalar_ms_one_thread": f.public_key.client_multiscalar * 1e3,
                "client_points": f.public_key.client_points,
                "client_with_public_key_ms": ms(f.client_with_public_key()),
                "client_ratio_with_public_key":
                    ms(r.times[2].client_mean) / ms(f.client_with_public_key()).max(1e-9),
                "server_agreements": f.public_key.server_agreements,
                "server_secrets": f.public_key.server_secrets,
                "server_multiscalar_ms_one_thread": f.public_key.server_multiscalar.map(|s| s * 1e3),
                "server_with_public_key_ms": f.server_with_public_key().map(ms),
                "server_ratio_with_public_key": f
                    .server_with_public_key()
                    .map(|s| ms(r.times[4].server) / ms(s).max(1e-9)),
            })
        });
        json!({
            "ok": self.error().is_none(),
            "error": self.error(),
            "clients": p.clients(),
            "dim": p.dim(),
            "bits": p.bits(),
            "k": p.degree(),
            "t": p.threshold(),
            "graph": graph_kind(p),
            "prg": prg_name(p.prg()),
            "corrupt": self.corrupt,
            "seed": self.seed,
            "concurrent_clients": self.concurrent,
            "dropouts": {
                "before_shares": self.dropouts.after_keys.len(),
                "after_shares": self.dropouts.after_shares.len(),
                "during_unmask": self.dropouts.during_unmask.len(),
            },
            "survivors": {
                "u1": r.survivors[0],
                "u2": r.survivors[1],
                "u3": r.survivors[2],
            },
            "timings_ms": timings,
            "bytes": {
                "upload_per_client": r.upload_per_client,
                "download_per_client": r.download_per_client,
                "packed_vector": self.packed_vector(),
            },
            "model": model_name(p),
            "dp": self.dp.map(|d| json!({
                "epsilon": d.epsilon,
                "delta": d.delta,
                "epsilon_reached": d.epsilon_reached,
                "predicted_mse": d.predicted_mse,
                "measured_mse": d.measured_mse,
                "central_gaussian_mse": d.central_gaussian_mse,
                "survivors": d.survivors,
                "scale": d.scale,
                "wrap_bound": d.wrap_bound,
            })),
            "sum_sha256": self.sum_digest(),
            "misbehaving_clients": self.misbehaving(),
            "client_errors": r
                .client_errors
                .iter()
                .map(|(i, e)| format!("client {i}: {e}"))
                .collect::<Vec<_>>(),
            "floor": floor,
            "peak_rss_bytes": secagg::bench::peak_rss_bytes(),
            "server_peak_heap_bytes": r.server_peak_heap,
            "server_heap_target_bytes": server_heap_target(p.dim()),
        })
    }

    /// The run as an aligned plain-text table.
    fn table(&self) -> String {
        let r = &self.report;
        let p = &self.params;
        let mut s = String::new();
        let mut line = |text: String| {
            s.push_str(&text);
            s.push('\n');
        };
        let graph = match p.graph() {
            Graph::Complete => "complete graph (SecAgg)".to_owned(),
            Graph::Harary { .. } => "Harary graph (SecAgg+)".to_owned(),
        };
        line(format!(
            "secagg simulate: n = {}, m = {}, b = {}, k = {}, t = {}, {graph}, {}",
            grouped(u64::from(p.clients())),
            grouped(u64::from(p.dim())),
            p.bits(),
            p.degree(),
            p.threshold(),
            prg_name(p.prg()),
        ));
        let mut seed = self
            .seed
            .map_or_else(|| "OS randomness".to_owned(), |s| format!("seed {s}"));
        if self.concurrent {
            seed.push_str(", clients side by side");
        }
        line(format!(
            "dropouts: {} before shares, {} after shares, {} during unmask ({seed})",
            self.dropouts.after_keys.len(),
            self.dropouts.after_shares.len(),
            self.dropouts.during_unmask.len(),
        ));
        line(String::new());
        line(format!(
            "{:<18} {:>13} {:>18}",
            "phase", "server (ms)", "client mean (ms)"
        ));
        let mut total = (Duration::ZERO, Duration::ZERO);
        for ((name, _), t) in PHASES.iter().zip(&r.times) {
            if *name == "Consistency" && !p.is_malicious() {
                continue;
            }
            total = (total.0 + t.server, total.1 + t.client_mean);
            line(format!(
                "{name:<18} {:>13.3} {:>18.3}",
                ms(t.server),
                ms(t.client_mean)
            ));
        }
        line(format!(
            "{:<18} {:>13.3} {:>18.3}",
            "total",
            ms(total.0),
            ms(total.1)
        ));
        line(String::new());
        let packed = self.packed_vector();
        // The means are over every client that sent anything, so they compare
        // with one full round's upload only when every client finished.
        let everyone_finished = self.dropouts == Dropouts::default() && r.client_errors.is_empty();
        let upload_note = if packed == 0 {
            "keys, shares and an empty vector: m = 0".to_owned()
        } else if everyone_finished {
            format!(
                "{:.4} x the packed vector, {} B",
                r.upload_per_client / packed as f64,
                grouped(packed)
            )
        } else {
            format!(
                "mean over clients that sent anything; packed vector {} B",
                grouped(packed)
            )
        };
        let mut rows: Vec<(&str, String)> = vec![
            (
                "upload per client",
                format!(
                    "{} B ({upload_note})",
                    grouped(r.upload_per_client.round() as u64)
                ),
            ),
            (
                "download per client",
                format!("{} B", grouped(r.download_per_client.round() as u64)),
            ),
            (
                "|U1| |U2| |U3|",
                format!("{} {} {}", r.survivors[0], r.survivors[1], r.survivors[2]),
            ),
            ("misbehaving clients", self.misbehaving().to_string()),
            ("client errors", r.client_errors.len().to_string()),
            ("server peak heap", self.server_heap()),
        ];
        if let Some(f) = &self.floor {
            rows.push((
                "PRG floor, client",
                format!(
                    "{} B: {:.3} ms on {}; R2 client mean is {:.2} x",
                    grouped(f.client_bytes),
                    ms(f.client()),
                    threads(f.threads),
                    ms(r.times[2].client_mean) / ms(f.client()).max(1e-9)
                ),
            ));
            if let (Some(bytes), Some(floor)) = (f.server_bytes, f.server()) {
                rows.push((
                    "PRG floor, server",
                    format!(
                        "{} B: {:.3} ms on {}; R3 server is {:.2} x",
                        grouped(bytes),
                        ms(floor),
                        threads(f.threads),
                        ms(r.times[4].server) / ms(floor).max(1e-9)
                    ),
                ));
            }
            rows.push((
                "+ public key, client",
                format!(
                    "{} points to decode and check: {:.3} ms on {}; R2 client mean is {:.2} x both",
                    grouped(f.public_key.client_points),
                    ms(f.public_key.client(f.threads)),
                    threads(f.threads),
                    ms(r.times[2].client_mean) / ms(f.client_with_public_key()).max(1e-9)
                ),
            ));
            if let (Some(agreements), Some(pk), Some(both)) = (
                f.public_key.server_agreements,
                f.public_key.server(f.threads),
                f.server_with_public_key(),
            ) {
                rows.push((
                    "+ public key, server",
                    format!(
                        "{} X25519 agreements, {} secrets to check: {:.3} ms on {}; R3 server is {:.2} x both",
                        grouped(agreements),
                        grouped(f.public_key.server_secrets.unwrap_or(0)),
                        ms(pk),
                        threads(f.threads),
                        ms(r.times[4].server) / ms(both).max(1e-9)
                    ),
                ));
            }
        }
        if self.floor.is_none() && p.dim() == 0 {
            rows.push((
                "PRG floor",
                "none: m = 0, no mask to expand (an empty vector is a valid round, \
                 spec/params.md section 2)"
                    .to_owned(),
            ));
        }
        if let Some(d) = &self.dp {
            rows.push((
                "DP privacy",
                format!(
                    "epsilon {} reached {} at delta {:e} with {} survivors",
                    figure(d.epsilon, None),
                    figure(d.epsilon_reached, Some(4)),
                    d.delta,
                    d.survivors
                ),
            ));
            rows.push((
                "DP error (MSE/coord)",
                format!(
                    "measured {}, predicted {} ({}), central Gaussian {} ({})",
                    figure(d.measured_mse, Some(4)),
                    figure(d.predicted_mse, Some(4)),
                    ratio(d.measured_mse, d.predicted_mse),
                    figure(d.central_gaussian_mse, Some(4)),
                    ratio(d.measured_mse, d.central_gaussian_mse)
                ),
            ));
        }
        let result = match self.error() {
            None if self.dp.is_some() => {
                "OK: the masked sum was exact and the DP release decoded".to_owned()
            }
            None => "OK: the aggregate equals the plaintext sum".to_owned(),
            Some(e) => format!("FAILED: {e}"),
        };
        rows.push(("result", result));
        for (name, value) in rows {
            line(format!("{name:<22} {value}"));
        }
        for (i, e) in &r.client_errors {
            line(format!("  client {i}: {e}"));
        }
        s
    }
}

// ----- Progress -----

/// One progress bar on stderr, restarted at each phase.
struct PhaseBar {
    bar: ProgressBar,
    phase: std::cell::Cell<Option<Phase>>,
}

impl PhaseBar {
    fn new(clients: u32) -> Self {
        let bar =
            ProgressBar::with_draw_target(Some(u64::from(clients)), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{msg:<16} [{bar:40}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        Self {
            bar,
            phase: std::cell::Cell::new(None),
        }
    }

    fn update(&self, phase: Phase, done: usize, total: usize) {
        if self.phase.get() != Some(phase) {
            self.phase.set(Some(phase));
            self.bar.set_message(phase.to_string());
            self.bar.set_length(total as u64);
            self.bar.set_position(0);
        }
        self.bar.set_position(done as u64);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

// ----- secagg params -----

/// The parameters `secagg params` derived.
#[derive(Debug)]
struct Derived {
    args: ParamsArgs,
    params: Params,
}

/// Derives SecAgg+ (k, t) for `args` with [`Params::secagg_plus`], or
/// [`Params::secagg_plus_malicious`] with `--malicious`.
///
/// # Errors
/// When no safe parameters exist for the fractions.
fn derive_params(args: &ParamsArgs) -> Result<Derived, UsageError> {
    // The label seed is not printed, so any generator will do.
    let mut rng = seeded_rng(0);
    let derive = if args.malicious {
        Params::secagg_plus_malicious
    } else {
        Params::secagg_plus
    };
    let params =
        derive(args.clients, 32, 1, args.corrupt, args.dropout, &mut rng).map_err(|e| {
            UsageError(format!(
                "no SecAgg+ parameters for {} clients, {} corrupt, {} dropout{}: {e}",
                args.clients,
                args.corrupt,
                args.dropout,
                if args.malicious {
                    ", malicious server"
                } else {
                    ""
                }
            ))
        })?;
    Ok(Derived {
        args: args.clone(),
        params,
    })
}

impl Derived {
    fn text(&self) -> String {
        let p = &self.params;
        let kind = match p.graph() {
            Graph::Complete => {
                "complete graph (no sparse Harary graph meets the bounds)".to_owned()
            }
            Graph::Harary { .. } => "Harary graph (SecAgg+)".to_owned(),
        };
        let mut s = String::new();
        // Writing to a String cannot fail.
        let _ = writeln!(
            s,
            "n = {}, corrupt = {}, dropout = {}, {} server\nk = {}, t = {}: {kind}",
            p.clients(),
            self.args.corrupt,
            self.args.dropout,
            model_name(p),
            p.degree(),
            p.threshold()
        );
        s
    }

    fn to_json(&self) -> Value {
        let p = &self.params;
        json!({
            "clients": p.clients(),
            "corrupt": self.args.corrupt,
            "dropout": self.args.dropout,
            "k": p.degree(),
            "t": p.threshold(),
            "graph": graph_kind(p),
            "model": model_name(p),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &[&str]) -> SimulateArgs {
        let mut argv = vec!["secagg", "simulate"];
        argv.extend_from_slice(line);
        match Cli::try_parse_from(argv) {
            Ok(Cli {
                command: Command::Simulate(a),
            }) => a,
            other => panic!("{line:?} did not parse: {other:?}"),
        }
    }

    /// The path of `main` without printing: the report and the JSON.
    fn run(line: &[&str]) -> (Report, Value) {
        let a = args(line);
        let outcome = simulate(&a, &mut |_, _, _| {}).unwrap();
        let json = outcome.to_json();
        // The table renders whatever happened.
        assert!(outcome.table().contains("R3 Unmask"));
        (outcome.report, json)
    }

    /// An OS random source that always fails, with the error `getrandom`
    /// gives for a failure it cannot name.
    struct FailingSource;

    impl rand_core::TryRng for FailingSource {
        type Error = getrandom::Error;
        fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
            Err(getrandom::Error::UNEXPECTED)
        }
        fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
            Err(getrandom::Error::UNEXPECTED)
        }
        fn try_fill_bytes(&mut self, _: &mut [u8]) -> Result<(), Self::Error> {
            Err(getrandom::Error::UNEXPECTED)
        }
    }

    impl TryCryptoRng for FailingSource {}

    /// A failing OS random source is `error: ...` naming it and exit code 1,
    /// not a panic; with `--seed` the source is never read; the real source
    /// keys a generator.
    #[test]
    fn failing_os_random_source_is_an_error_not_a_panic() {
        let line = ["--clients", "4", "--dim", "2"];
        let e = simulate_from(&args(&line), &mut FailingSource, &mut |_, _, _| {}).unwrap_err();
        assert_eq!(
            e,
            RunError::Randomness("the OS random source failed: unexpected situation".to_owned())
        );
        assert_eq!(e.exit_code(), 1);
        assert_eq!(
            format!("error: {e}"),
            "error: the OS random source failed: unexpected situation"
        );
        let seeded = [&line[..], &["--seed", "1"]].concat();
        let outcome = simulate_from(&args(&seeded), &mut FailingSource, &mut |_, _, _| {});
        assert!(outcome.unwrap().report.ok());
        assert!(os_seeded_rng(&mut getrandom::SysRng).is_ok());
        assert_eq!(RunError::Usage(UsageError(String::new())).exit_code(), 2);
        assert_eq!(RunError::Aborted(String::new()).exit_code(), 1);
    }

    /// `--prg aes` puts AES-128-CTR in the parameters and the round still
    /// gives the plaintext sum; the report names the PRG.
    #[test]
    fn prg_flag_selects_aes() {
        let (report, j) = run(&[
            "--clients",
            "20",
            "--dim",
            "300",
            "--dropout",
            "0.1",
            "--seed",
            "7",
            "--prg",
            "aes",
            "--json",
        ]);
        assert!(report.ok());
        assert_eq!(j["prg"], "aes128ctr");
        assert_eq!(args(&[]).prg, PrgArg::Chacha20);
        assert_eq!(args(&["--prg", "chacha20"]).prg, PrgArg::Chacha20);
        let mut argv = vec!["secagg", "simulate", "--prg", "aes128"];
        assert!(Cli::try_parse_from(argv.drain(..)).is_err());
    }

    #[test]
    fn json_has_every_key_with_the_right_values() {
        let (report, j) = run(&[
            "--clients",
            "20",
            "--dim",
            "300",
            "--bits",
            "16",
            "--dropout",
            "0.1",
            "--seed",
            "7",
            "--json",
        ]);
        assert!(report.ok());
        assert_eq!(j["ok"], true);
        assert_eq!(j["error"], Value::Null);
        assert_eq!(j["clients"], 20);
        assert_eq!(j["dim"], 300);
        assert_eq!(j["bits"], 16);
        assert_eq!(j["prg"], "chacha20");
        assert_eq!(j["survivors"]["u1"], 20);
        assert_eq!(j["survivors"]["u2"], 20);
        assert_eq!(j["survivors"]["u3"], 18);
        assert_eq!(j["dropouts"]["after_shares"], 2);
        assert!(j["graph"] == "harary" || j["graph"] == "complete");
        let (k, t) = (j["k"].as_u64().unwrap(), j["t"].as_u64().unwrap());
        assert!((2..=19).contains(&k) && (2..=k + 1).contains(&t));
        for (_, phase) in PHASES {
            for who in ["server", "client_mean"] {
                let v = j["timings_ms"][phase][who].as_f64().unwrap();
                assert!(v >= 0.0, "{phase}.{who}");
            }
        }
        let up = j["bytes"]["upload_per_client"].as_f64().unwrap();
        let down = j["bytes"]["download_per_client"].as_f64().unwrap();
        // At least the packed vector (300 * 16 bits) goes up.
        assert!(up >= 600.0 && down > 0.0);
        assert_eq!(j["misbehaving_clients"], 0);
        let f = &j["floor"];
        assert_eq!(f["client_bytes"], (k + 1) * 300 * 4);
        // U3 self masks plus the two dropped clients' pairs with U3.
        let server_bytes = f["server_bytes"].as_u64().unwrap();
        assert!(server_bytes >= 18 * 300 * 4 && server_bytes <= (18 + 2 * k) * 300 * 4);
        assert_eq!(server_bytes % (300 * 4), 0);
        let ratio = |num: &Value, den: &Value| num.as_f64().unwrap() / den.as_f64().unwrap();
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs().max(1.0);
        assert!(close(
            f["client_ratio"].as_f64().unwrap(),
            ratio(
                &j["timings_ms"]["masked_input"]["client_mean"],
                &f["client_ms"]
            )
        ));
        assert!(close(
            f["server_ratio"].as_f64().unwrap(),
            ratio(&j["timings_ms"]["unmask"]["server"], &f["server_ms"])
        ));
        // The public-key work: 2 t points per neighbour for a client; one
        // agreement per dropped client and per pair of it with U3.
        assert_eq!(f["client_points"], 2 * k * t);
        // Each side's public-key work, spread over the floor's threads: the
        // client's decodings and one multiscalar check; the server's
        // agreements and one check of its rebuilt secrets (one per
        // survivor, one per dropped client).
        let threads = f["threads"].as_f64().unwrap();
        let num = |key: &str| f[key].as_f64().unwrap();
        let pk_is = |side: &str, pk_ms: f64| {
            assert!(pk_ms > 0.0, "{side}");
            let extra = num(&format!("{side}_with_public_key_ms")) - num(&format!("{side}_ms"));
            assert!((extra - pk_ms).abs() <= 1e-3 * pk_ms, "{side}");
        };
        pk_is(
            "client",
            (num("client_points") / num("decompress_per_s_one_thread") * 1e3
                + num("client_multiscalar_ms_one_thread"))
                / threads,
        );
        assert_eq!(f["server_secrets"].as_u64().unwrap(), 18 + 2);
        pk_is(
            "server",
            (num("server_agreements") / num("agreements_per_s_one_thread") * 1e3
                + num("server_multiscalar_ms_one_thread"))
                / threads,
        );
        let agreements = f["server_agreements"].as_u64().unwrap();
        let pairs = server_bytes / (300 * 4) - 18;
        assert_eq!(agreements, pairs + 2);
        assert!(close(
            f["server_ratio_with_public_key"].as_f64().unwrap(),
            ratio(
                &j["timings_ms"]["unmask"]["server"],
                &f["server_with_public_key_ms"]
            )
        ));
        if cfg!(target_os = "linux") {
            // At least the 20 input vectors of 300 u64 are resident.
            assert!(j["peak_rss_bytes"].as_u64().unwrap() > 20 * 300 * 8);
        }
        // This binary installs the counting allocator: the server held at
        // least its running sum of 300 u64 (tests running alongside can only
        // add to the figure, so only the lower bound is checked here;
        // tests/heap.rs checks the count alone).
        assert!(j["server_peak_heap_bytes"].as_u64().unwrap() >= 300 * 8);
        assert_eq!(j["server_heap_target_bytes"], 2 * 300 * 8 + (64 << 20));
    }

    #[test]
    fn every_dropout_kind() {
        let (report, j) = run(&[
            "--clients",
            "20",
            "--dim",
            "50",
            "--drop-before-shares",
            "0.1",
            "--dropout",
            "0.1",
            "--drop-during-unmask",
            "0.1",
            "--seed",
            "3",
        ]);
        assert!(report.ok(), "{:?}", report.result);
        assert_eq!(
            (
                &j["survivors"]["u1"],
                &j["survivors"]["u2"],
                &j["survivors"]["u3"]
            ),
            (&json!(20), &json!(18), &json!(16))
        );
        // Those silent in R3 are still in the sum.
        assert_eq!(report.result.unwrap().survivors.len(), 16);
    }

    #[test]
    fn seeded_runs_repeat() {
        let line = [
            "--clients",
            "8",
            "--dim",
            "20",
            "--dropout",
            "0.25",
            "--seed",
            "11",
        ];
        let (a, ja) = run(&line);
        let (b, jb) = run(&line);
        let (a, b) = (a.result.unwrap(), b.result.unwrap());
        assert_eq!((&a.sum, &a.survivors), (&b.sum, &b.survivors));
        assert_eq!(
            (ja["k"].clone(), ja["t"].clone()),
            (jb["k"].clone(), jb["t"].clone())
        );
        let (c, _) = run(&[
            "--clients",
            "8",
            "--dim",
            "20",
            "--dropout",
            "0.25",
            "--seed",
            "12",
        ]);
        assert_ne!(a.sum, c.result.unwrap().sum);
    }

    /// `--concurrent-clients` changes how the clients run, not what the
    /// round sums: the same seed gives the same inputs, dropouts and
    /// survivors, so the same exact sum.
    #[test]
    fn concurrent_clients_sum_what_the_clients_in_turn_sum() {
        let line = [
            "--clients",
            "40",
            "--dim",
            "30",
            "--dropout",
            "0.2",
            "--seed",
            "11",
        ];
        let (a, ja) = run(&line);
        let (b, jb) = run(&[&line[..], &["--concurrent-clients"]].concat());
        assert!(a.ok() && b.ok());
        assert_eq!(
            (&ja["concurrent_clients"], &jb["concurrent_clients"]),
            (&json!(false), &json!(true))
        );
        let (a, b) = (a.result.unwrap(), b.result.unwrap());
        assert_eq!(a.survivors.len(), 32);
        assert_eq!((&a.sum, &a.survivors), (&b.sum, &b.survivors));
        let both = [
            "secagg",
            "simulate",
            "--concurrent-clients",
            "--dp",
            "epsilon=1,delta=1e-5,clip=1",
        ];
        assert!(Cli::try_parse_from(both).is_err());
    }

    #[test]
    fn graph_overrides() {
        let (_, j) = run(&["--clients", "10", "--dim", "8", "--complete", "--seed", "1"]);
        assert_eq!(
            (&j["graph"], &j["k"], &j["t"]),
            (&json!("complete"), &json!(9), &json!(6))
        );
        let (_, j) = run(&[
            "--clients",
            "10",
            "--dim",
            "8",
            "--degree",
            "0",
            "--seed",
            "1",
        ]);
        assert_eq!((&j["graph"], &j["k"]), (&json!("complete"), &json!(9)));
        let (r, j) = run(&[
            "--clients",
            "10",
            "--dim",
            "8",
            "--degree",
            "4",
            "--threshold",
            "3",
            "--seed",
            "1",
        ]);
        assert!(r.ok());
        assert_eq!(
            (&j["graph"], &j["k"], &j["t"]),
            (&json!("harary"), &json!(4), &json!(3))
        );
        let (_, j) = run(&[
            "--clients",
            "10",
            "--dim",
            "8",
            "--degree",
            "4",
            "--seed",
            "1",
        ]);
        assert_eq!(j["t"], 3);
        let (_, j) = run(&[
            "--clients",
            "200",
            "--dim",
            "8",
            "--threshold",
            "5",
            "--seed",
            "1",
        ]);
        assert_eq!(j["t"], 5);
    }

    #[test]
    fn aborted_round_is_reported() {
        // t = n: one dropout in R2 leaves too few masked inputs.
        let a = args(&[
            "--clients",
            "10",
            "--dim",
            "8",
            "--complete",
            "--threshold",
            "10",
            "--dropout",
            "0.1",
            "--seed",
            "1",
        ]);
        let outcome = simulate(&a, &mut |_, _, _| {}).unwrap();
        assert!(!outcome.report.ok());
        let j = outcome.to_json();
        assert_eq!(j["ok"], false);
        assert!(
            j["error"]
                .as_str()
                .unwrap()
                .contains("not enough survivors")
        );
        assert!(outcome.table().contains("FAILED"));
    }

    #[test]
    fn bad_arguments_are_rejected() {
        let parse = |line: &[&str]| {
            let mut argv = vec!["secagg", "simulate"];
            argv.extend_from_slice(line);
            Cli::try_parse_from(argv).map(|_| ())
        };
        for line in [
            &["--dropout", "1"][..],
            &["--dropout", "1.5"],
            &["--dropout", "-0.1"],
            &["--dropout", "NaN"],
            &["--dropout", "x"],
            &["--drop-before-shares", "inf"],
            &["--corrupt", "1.0"],
            &["--bits", "0"],
            &["--bits", "65"],
            &["--clients", "1"],
            &["--clients", "-3"],
            &["--complete", "--degree", "4"],
            &["--frobnicate"],
        ] {
            let e = parse(line).expect_err(&format!("{line:?} accepted"));
            assert_eq!(e.exit_code(), i32::from(EXIT_USAGE), "{line:?}");
        }
        assert!(parse(&["--bits", "64", "--dropout", "0.999"]).is_ok());

        let reject = |line: &[&str]| match simulate(&args(line), &mut |_, _, _| {}) {
            Err(RunError::Usage(e)) => e,
            other => panic!("{line:?}: {other:?}"),
        };
        let e = reject(&["--dropout", "0.6", "--drop-during-unmask", "0.6"]);
        assert!(e.0.contains("above 1"), "{e}");
        let e = reject(&[
            "--clients",
            "3",
            "--dropout",
            "0.5",
            "--drop-before-shares",
            "0.5",
        ]);
        assert!(e.0.contains("round to 4 clients"), "{e}");
        let e = reject(&["--clients", "10", "--degree", "3"]);
        assert!(e.0.contains("Harary degree"), "{e}");
        let e = reject(&["--clients", "10", "--degree", "4", "--threshold", "6"]);
        assert!(e.0.contains("threshold"), "{e}");
        let e = reject(&["--clients", "10", "--threshold", "1"]);
        assert!(e.0.contains("threshold"), "{e}");
        let e = reject(&["--corrupt", "0.6", "--dropout", "0.45"]);
        assert!(e.0.contains("no SecAgg+ parameters"), "{e}");
    }

    #[test]
    fn params_subcommand() {
        let derived = |line: &[&str]| {
            let mut argv = vec!["secagg", "params"];
            argv.extend_from_slice(line);
            match Cli::try_parse_from(argv).unwrap().command {
                Command::Params(a) => derive_params(&a),
                Command::Simulate(_) => unreachable!(),
            }
        };
        let d = derived(&["--clients", "1000"]).unwrap();
        assert_eq!((d.params.degree(), d.params.threshold()), (30, 17));
        assert_eq!(d.to_json()["graph"], "harary");
        assert!(d.text().contains("k = 30, t = 17"));
        let d = derived(&["--clients", "100", "--corrupt", "0.5", "--dropout", "0.45"]).unwrap();
        assert_eq!(d.to_json()["graph"], "complete");
        assert!(d.text().contains("complete graph"));
        assert!(derived(&["--clients", "100", "--corrupt", "0.6", "--dropout", "0.45"]).is_err());
        let mut argv = vec!["secagg", "params"];
        argv.extend_from_slice(&["--clients", "100", "--dropout", "1"]);
        assert!(Cli::try_parse_from(argv).is_err());
    }

    /// README.md's main job: `simulate` alone is 100 clients, 100,000
    /// elements, 32 bits.
    #[test]
    fn defaults() {
        let a = args(&[]);
        assert_eq!((a.clients, a.dim, a.bits), (100, 100_000, 32));
        assert_eq!((a.dropout, a.corrupt, a.prg), (0.0, 0.05, PrgArg::Chacha20));
        assert!(!a.json && !a.malicious && !a.concurrent_clients && a.seed.is_none());
    }

    /// `ok` does not rest on the library's own comparison alone, which
    /// sums over the survivors the server names: the CLI recomputes the sum
    /// over the clients that sent their masked input. (With the comparison
    /// in `check_aggregate` removed, the wrong sum and the short survivor
    /// set below pass and this test fails.)
    #[test]
    fn ok_is_an_independent_check() {
        let params = Params::new(6, 3, 8, 5, Graph::Complete).unwrap();
        // Near 2^8, so the sum wraps.
        let inputs: Vec<Vec<u64>> = (1..=6u64)
            .map(|i| (0..5).map(|j| 190 + 9 * i + j).collect())
            .collect();
        let dropouts = Dropouts {
            after_shares: vec![4],
            ..Dropouts::default()
        };
        let report = secagg::simulation::run(&params, &inputs, &dropouts, &mut seeded_rng(3));
        let agg = report.result.clone().unwrap();
        let by_hand: Vec<u64> = (0..5)
            .map(|j| {
                [1, 2, 3, 5, 6]
                    .iter()
                    .map(|&i| inputs[i - 1][j])
                    .sum::<u64>()
                    % 256
            })
            .collect();
        assert_eq!(agg.sum, by_hand);
        assert_eq!(check_aggregate(&params, &inputs, &dropouts, &agg), None);

        let mut wrong = agg.clone();
        wrong.sum[2] = (wrong.sum[2] + 1) % 256;
        let e = check_aggregate(&params, &inputs, &dropouts, &wrong).unwrap();
        assert!(e.contains("differs") && e.contains("element 2"), "{e}");
        // Client 5 left out, with its input: consistent with the survivors
        // the server names, so the library's own expected sum agrees.
        let mut short = agg.clone();
        short.survivors.retain(|&u| u != 5);
        for (s, x) in short.sum.iter_mut().zip(&inputs[4]) {
            *s = (*s + 256 - x) % 256;
        }
        let e = check_aggregate(&params, &inputs, &dropouts, &short).unwrap();
        assert!(e.contains("summed 4 clients, not the 5"), "{e}");
        let mut long = agg.clone();
        long.sum.push(0);
        let e = check_aggregate(&params, &inputs, &dropouts, &long).unwrap();
        assert!(e.contains("6 elements, not m = 5"), "{e}");

        // What the check finds makes the run fail: `ok` false, the error
        // named, the table's result FAILED (and exit code 1, from `error`).
        let mut outcome = simulate(
            &args(&["--clients", "8", "--dim", "6", "--seed", "2"]),
            &mut |_, _, _| {},
        )
        .unwrap();
        assert_eq!(
            (outcome.to_json()["ok"].clone(), outcome.error()),
            (json!(true), None)
        );
        outcome.check = Some("the server summed 7 clients, not the 8".to_owned());
        assert!(outcome.report.ok());
        let j = outcome.to_json();
        assert_eq!(j["ok"], false);
        assert_eq!(j["error"], "the server summed 7 clients, not the 8");
        assert!(outcome.table().contains("FAILED: the server summed"));
    }

    /// A run is refused when its lower bound of memory is above what is
    /// available: the bound is four m-vectors of u64, the R1 states with
    /// 64 bytes per neighbour, plus, with --dp, n float inputs and n
    /// encodings.
    #[test]
    fn memory_bound() {
        let p = Params::new(10, 6, 32, 1 << 20, Graph::Complete).unwrap();
        let state = std::mem::size_of::<AwaitingShares>() as u64 + 64 * 9;
        // A vector of 2^20 u64 is 8 MiB.
        let plain = (32 << 20) + 10 * state;
        assert_eq!(memory_needed(&p, None, 10), plain);
        assert_eq!(memory_needed(&p, None, 7), plain - 3 * state);
        assert_eq!(
            memory_needed(&p, Some(1000), 10),
            plain + 10 * (1000 * 8 + (8 << 20))
        );
        assert_eq!(check_memory(&p, None, 10, None), Ok(()));
        assert_eq!(check_memory(&p, None, 10, Some(plain)), Ok(()));
        let e = check_memory(&p, None, 10, Some(plain - 1)).unwrap_err();
        assert!(e.0.contains("0.0 GiB is available"), "{e}");
        let e = check_memory(&p, Some(1000), 10, Some(100 << 20)).unwrap_err();
        assert!(e.0.contains("--dim 1000 padded, with --dp"), "{e}");
    }

    #[test]
    fn dropouts_are_disjoint_and_exact() {
        let mut rng = seeded_rng(5);
        let d = choose_dropouts(50, [5, 7, 9], &mut rng);
        let mut all: Vec<_> = [&d.after_keys, &d.after_shares, &d.during_unmask]
            .into_iter()
            .flatten()
            .copied()
            .collect();
        assert_eq!(
            (
                d.after_keys.len(),
                d.after_shares.len(),
                d.during_unmask.len()
            ),
            (5, 7, 9)
        );
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 21);
        assert!(all.iter().all(|&i| (1..=50).contains(&i)));
        // Everyone can drop.
        let d = choose_dropouts(4, [1, 2, 1], &mut rng);
        assert_eq!(
            d.after_keys.len() + d.after_shares.len() + d.during_unmask.len(),
            4
        );
    }

    #[test]
    fn small_helpers() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(figure(0.0, Some(4)), "0.0000");
        assert_eq!(figure(1.5, Some(4)), "1.5000");
        assert_eq!(figure(1.5, None), "1.5");
        assert_eq!(figure(1e-300, None), "1e-300");
        assert_eq!(figure(1e300, None), "1e300");
        assert_eq!(figure(1.8e16, Some(4)), "1.8000e16");
        assert_eq!(figure(1.4e-37, Some(4)), "1.4000e-37");
        assert_eq!(figure(f64::NAN, Some(4)), "not finite");
        assert_eq!(figure(f64::INFINITY, None), "not finite");
        assert_eq!(ratio(3.0, 2.0), "1.500 x");
        assert_eq!(ratio(0.0, 0.0), "no ratio, divisor 0");
        assert_eq!(ratio(1.4e-37, 0.0), "no ratio, divisor 0");
        assert_eq!(ratio(1.0, 1e-320), "no ratio, divisor 0");
        assert_eq!(majority(1), 2);
        assert_eq!(majority(2), 2);
        assert_eq!(majority(4), 3);
        assert_eq!(majority(99), 51);
        assert_eq!(majority(u32::MAX), 1 << 31);
        let mut rng = seeded_rng(2);
        assert!((0..1000).all(|_| below(&mut rng, 3) < 3));
        assert_eq!(below(&mut rng, 1), 0);
    }
}
