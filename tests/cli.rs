//! The `secagg` binary from the outside: its flags and defaults, its JSON,
//! its exit codes and messages, the command lines README.md and
//! benches/README.md print, and the figures those documents derive from it.
//! Every run is small (n <= 200, m <= 1,000).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

use secagg::params::secagg_plus::{derive, derive_malicious};
use serde_json::Value;

/// Runs the binary with `args`.
fn secagg<S: AsRef<OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_secagg"))
        .args(args)
        .output()
        .expect("the secagg binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `secagg <command> --json` with `args`, expecting exit code 0.
fn json_of(command: &str, args: &[&str]) -> Value {
    let mut line = vec![command, "--json"];
    line.extend_from_slice(args);
    let out = secagg(&line);
    assert_eq!(out.status.code(), Some(0), "{line:?}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

/// `secagg simulate --json` with `args`.
fn simulate_json(args: &[&str]) -> Value {
    json_of("simulate", args)
}

/// `secagg params --json` with `args`.
fn params_json(args: &[&str]) -> Value {
    json_of("params", args)
}

fn u64_at(j: &Value, key: &str) -> u64 {
    j[key].as_u64().unwrap_or_else(|| panic!("{key} in {j}"))
}

/// The text `--help` prints for `flag`, up to the next option.
fn help_of(help: &str, flag: &str) -> String {
    let start = help
        .find(&format!("{flag} "))
        .or_else(|| help.find(&format!("{flag}\n")))
        .unwrap_or_else(|| panic!("{flag} is not in the help"));
    let rest = &help[start + flag.len()..];
    let end = rest.find("\n      --").unwrap_or(rest.len());
    rest[..end].to_owned()
}

/// README.md: "The main job: a whole round (100 clients, 100,000-element
/// vectors, 32 bits)" is `simulate` without flags; the help says each
/// default, and so does the JSON of a run that sets only the size.
#[test]
fn defaults_are_the_readme_main_job() {
    let out = secagg(&["simulate", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = stdout(&out);
    for (flag, default) in [
        ("--clients", "100"),
        ("--dim", "100000"),
        ("--bits", "32"),
        ("--prg", "chacha20"),
        ("--dropout", "0"),
        ("--corrupt", "0.05"),
    ] {
        let text = help_of(&help, flag);
        assert!(
            text.contains(&format!("[default: {default}]")),
            "{flag}: {text}"
        );
    }
    for flag in [
        "--json",
        "--seed",
        "--dp",
        "--concurrent-clients",
        "--malicious",
        "--complete",
        "--degree",
        "--threshold",
        "--drop-before-shares",
        "--drop-during-unmask",
    ] {
        help_of(&help, flag);
    }
    let j = simulate_json(&["--dim", "16", "--seed", "1"]);
    assert_eq!((u64_at(&j, "clients"), u64_at(&j, "bits")), (100, 32));
    assert_eq!(j["prg"], "chacha20");
    assert_eq!(j["model"], "semi-honest");
    for v in ["version", "help"] {
        let out = secagg(&[format!("--{v}")]);
        assert_eq!(out.status.code(), Some(0), "--{v}");
    }
}

/// Every help names the exit codes benches/README.md documents, the ones
/// the other tests here assert.
#[test]
fn help_names_the_exit_codes() {
    for line in [
        &["--help"][..],
        &["simulate", "--help"],
        &["params", "--help"],
    ] {
        let out = secagg(line);
        assert_eq!(out.status.code(), Some(0), "{line:?}");
        let help = stdout(&out)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        for says in [
            "Exit codes: 0 the round finished with the plaintext sum",
            "1 the round aborted or its sum differs, the OS random source failed, \
             or the output could not be written;",
            "2 bad arguments, or a run needing more memory than is available.",
        ] {
            assert!(help.contains(says), "{line:?}: {help}");
        }
    }
}

/// The keys benches/README.md and the issue read the targets from exist
/// and hold numbers of the right kind.
#[test]
fn json_keys_of_the_benchmark_docs() {
    let j = simulate_json(&[
        "--clients",
        "20",
        "--dim",
        "64",
        "--dropout",
        "0.1",
        "--seed",
        "2",
    ]);
    assert_eq!(j["ok"], true);
    let f = &j["floor"];
    for key in [
        "client_ratio",
        "server_ratio",
        "client_ratio_with_public_key",
        "server_ratio_with_public_key",
        "keystream_bytes_per_s_one_thread",
        "agreements_per_s_one_thread",
        "decompress_per_s_one_thread",
        "client_multiscalar_ms_one_thread",
        "server_multiscalar_ms_one_thread",
    ] {
        assert!(f[key].as_f64().is_some_and(|x| x > 0.0), "floor.{key}: {f}");
    }
    for key in [
        "client_bytes",
        "server_bytes",
        "threads",
        "server_agreements",
        "server_secrets",
        "client_points",
    ] {
        assert!(f[key].as_u64().is_some(), "floor.{key}: {f}");
    }
    // floor.client_bytes is (k + 1) m lane, lane = 4 for b = 32.
    assert_eq!(
        u64_at(f, "client_bytes"),
        (u64_at(&j, "k") + 1) * 64 * 4,
        "{f}"
    );
    assert_eq!(
        u64_at(f, "client_points"),
        2 * u64_at(&j, "k") * u64_at(&j, "t")
    );
    for phase in [
        "advertise_keys",
        "share_keys",
        "masked_input",
        "consistency",
        "unmask",
    ] {
        for who in ["server", "client_mean"] {
            assert!(j["timings_ms"][phase][who].as_f64().is_some(), "{phase}");
        }
    }
    if cfg!(target_os = "linux") {
        assert!(u64_at(&j, "peak_rss_bytes") > 0);
    }
    assert!(j["bytes"]["upload_per_client"].as_f64().is_some());
    assert!(j["bytes"]["download_per_client"].as_f64().is_some());
    // The packed vector is m b / 8.
    assert_eq!(j["bytes"]["packed_vector"], 64 * 32 / 8);
    assert!(u64_at(&j, "server_peak_heap_bytes") >= 64 * 8);
    assert_eq!(
        u64_at(&j, "server_heap_target_bytes"),
        2 * 64 * 8 + (64 << 20)
    );
    assert_eq!(j["sum_sha256"].as_str().map(str::len), Some(64));
}

/// `--seed` replays a run: the same seed gives the same parameters,
/// dropouts, survivors and sum; another seed another sum; and
/// `--concurrent-clients` (whose help says so) the same sum as in turn.
#[test]
fn seed_replays_the_round() {
    let line = [
        "--clients",
        "24",
        "--dim",
        "40",
        "--bits",
        "20",
        "--dropout",
        "0.125",
        "--seed",
        "9",
    ];
    let a = simulate_json(&line);
    let b = simulate_json(&line);
    let same = [
        "k",
        "t",
        "survivors",
        "dropouts",
        "sum_sha256",
        "bytes",
        "graph",
    ];
    for key in same {
        assert_eq!(a[key], b[key], "{key}");
    }
    assert_eq!(a["survivors"]["u3"], 21);
    let c = simulate_json(&[&line[..], &["--concurrent-clients"]].concat());
    assert_eq!(
        (&a["sum_sha256"], &a["survivors"]),
        (&c["sum_sha256"], &c["survivors"])
    );
    assert_eq!(c["concurrent_clients"], true);
    let mut other = line;
    other[9] = "10";
    let d = simulate_json(&other);
    assert_ne!(a["sum_sha256"], d["sum_sha256"]);
    // Without --seed, OS randomness: two runs differ.
    let unseeded = &line[..8];
    assert_ne!(
        simulate_json(unseeded)["sum_sha256"],
        simulate_json(unseeded)["sum_sha256"]
    );
}

/// Whether `text` holds a float that is not one: `NaN` or `inf` as Rust
/// prints them.
fn has_non_finite(text: &str) -> bool {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .any(|w| w.eq_ignore_ascii_case("nan") || w.eq_ignore_ascii_case("inf"))
}

/// m = 0 is a valid round (spec/params.md section 2 bounds m only from
/// above, and `Params` accepts it): `--dim 0` runs it, says so in the help
/// and the table, and its report holds no NaN or inf: no PRG floor (`floor`
/// null, no ratio), a packed vector of 0 bytes, the digest of an empty sum.
#[test]
fn dim_zero_is_a_round_with_nothing_to_mask() {
    let help = stdout(&secagg(&["simulate", "--help"]));
    assert!(
        help_of(&help, "--dim").contains("m = 0 is a valid round"),
        "{help}"
    );
    let empty_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    for extra in [
        &[][..],
        &["--dropout", "0.2"],
        &["--complete", "--malicious"],
        &["--concurrent-clients", "--drop-during-unmask", "0.2"],
    ] {
        let mut line = vec!["simulate", "--clients", "5", "--dim", "0", "--seed", "3"];
        line.extend_from_slice(extra);
        let out = secagg(&line);
        assert_eq!(out.status.code(), Some(0), "{line:?}: {}", stderr(&out));
        let table = stdout(&out);
        assert!(!has_non_finite(&table), "{line:?}: {table}");
        assert!(table.contains("m = 0,"), "{table}");
        assert!(
            table.contains("PRG floor              none: m = 0, no mask to expand"),
            "{table}"
        );
        assert!(
            table.contains("(keys, shares and an empty vector: m = 0)"),
            "{table}"
        );
        assert!(table.contains("OK: the aggregate equals the plaintext sum"));
        line.push("--json");
        let out = secagg(&line);
        assert_eq!(out.status.code(), Some(0), "{line:?}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(!has_non_finite(&text), "{line:?}: {text}");
        let j: Value = serde_json::from_str(&text).unwrap();
        assert_eq!((&j["ok"], &j["dim"]), (&Value::Bool(true), &Value::from(0)));
        assert_eq!(j["floor"], Value::Null, "{line:?}");
        assert_eq!(j["bytes"]["packed_vector"], 0);
        assert_eq!(j["sum_sha256"], empty_sha256);
        for (phase, t) in j["timings_ms"].as_object().unwrap() {
            for side in ["server", "client_mean"] {
                assert!(t[side].as_f64().is_some_and(f64::is_finite), "{phase}");
            }
        }
    }
}

/// `--prg aes|chacha20` sets the mask PRG; both give an exact round, and
/// the same seed the same sum (the inputs do not depend on the PRG).
#[test]
fn prg_flag() {
    let line = ["--clients", "12", "--dim", "30", "--seed", "4"];
    let cha = simulate_json(&[&line[..], &["--prg", "chacha20"]].concat());
    let aes = simulate_json(&[&line[..], &["--prg", "aes"]].concat());
    assert_eq!(
        (&cha["prg"], &aes["prg"]),
        (&"chacha20".into(), &"aes128ctr".into())
    );
    assert_eq!((&cha["ok"], &aes["ok"]), (&true.into(), &true.into()));
    assert_eq!(cha["sum_sha256"], aes["sum_sha256"]);
    assert_eq!(simulate_json(&line)["prg"], "chacha20");
}

/// `--dp` runs the DP encoding: the round is exact, the vector is padded to
/// a power of two and the privacy reached is within the target.
#[test]
fn dp_flag() {
    let j = simulate_json(&[
        "--clients",
        "10",
        "--dim",
        "12",
        "--bits",
        "32",
        "--seed",
        "5",
        "--dp",
        "epsilon=2,delta=1e-5,clip=1",
    ]);
    assert_eq!(j["ok"], true, "{j}");
    assert_eq!(j["dim"], 16);
    let dp = &j["dp"];
    assert_eq!(dp["epsilon"], 2.0);
    let reached = dp["epsilon_reached"].as_f64().expect("epsilon_reached");
    assert!(reached > 0.0 && reached <= 2.0, "{dp}");
    assert_eq!(dp["survivors"], 10);
}

/// Extreme `--dp` values the library accepts still give a readable table:
/// no `inf` ratio over a central Gaussian error of 0 (a clip of 1e-300),
/// no epsilon printed as hundreds of digits, no NaN.
#[test]
fn dp_table_at_extreme_values() {
    for (dp, says) in [
        (
            "epsilon=1,delta=1e-5,clip=1e-300",
            "central Gaussian 0.0000 (no ratio, divisor 0)",
        ),
        (
            "epsilon=1e-300,delta=1e-5,clip=1",
            "DP privacy             epsilon 1e-300 reached ",
        ),
        (
            "epsilon=1e300,delta=1e-5,clip=1",
            "DP privacy             epsilon 1e300 reached ",
        ),
    ] {
        let line = [
            "simulate",
            "--clients",
            "5",
            "--dim",
            "3",
            "--seed",
            "1",
            "--dp",
            dp,
        ];
        let out = secagg(&line);
        let table = stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{dp}: {}", stderr(&out));
        assert!(table.contains(says), "{dp}: {table}");
        assert!(!has_non_finite(&table), "{dp}: {table}");
        assert!(table.lines().all(|l| l.len() < 200), "{dp}: {table}");
    }
}

/// `--dropout` drops round(F n) clients after their shares; the others are
/// summed; `--drop-before-shares` and `--drop-during-unmask` likewise.
#[test]
fn dropout_flags() {
    let line = "--clients 40 --dim 8 --dropout 0.1 --drop-before-shares 0.05 \
                --drop-during-unmask 0.075 --seed 6";
    let j = simulate_json(&line.split_whitespace().collect::<Vec<_>>());
    assert_eq!(j["ok"], true);
    assert_eq!(
        (
            &j["dropouts"]["before_shares"],
            &j["dropouts"]["after_shares"],
            &j["dropouts"]["during_unmask"]
        ),
        (&2.into(), &4.into(), &3.into())
    );
    assert_eq!(
        (
            &j["survivors"]["u1"],
            &j["survivors"]["u2"],
            &j["survivors"]["u3"]
        ),
        (&40.into(), &38.into(), &34.into())
    );
}

/// Bad input of every kind: the binary says what is wrong on stderr, after
/// `error:`, exits with code 2 (1 for a round that aborted), and never
/// panics.
#[test]
fn bad_input_is_named_never_a_panic() {
    // (command line, exit code, what stderr says)
    #[rustfmt::skip]
    let cases: &[(&str, i32, &str)] = &[
        ("", 2, "Usage"),
        ("frobnicate", 2, "unrecognized subcommand"),
        ("simulate --frobnicate", 2, "unexpected argument"),
        ("simulate --clients 0", 2, "--clients"),
        ("simulate --clients 1", 2, "not in 2..=16777216"),
        ("simulate --clients 16777217", 2, "--clients"),
        ("simulate --clients x", 2, "--clients"),
        ("simulate --dim 268435457", 2, "--dim"),
        ("simulate --dim=-1", 2, "--dim"),
        ("simulate --bits 0", 2, "--bits"),
        ("simulate --bits 65", 2, "--bits"),
        ("simulate --dropout NaN", 2, "not a fraction"),
        ("simulate --dropout 1", 2, "not a fraction"),
        ("simulate --dropout=-0.1", 2, "not a fraction"),
        ("simulate --dropout -0.1", 2, "-0.1 is not a fraction"),
        ("simulate --corrupt -1", 2, "-1 is not a fraction"),
        ("simulate --clients -3", 2, "-3 is not in 2..=16777216"),
        ("simulate --dim -1", 2, "invalid value '-1' for '--dim"),
        ("simulate --bits -8", 2, "invalid value '-8' for '--bits"),
        ("simulate --seed -1", 2, "invalid value '-1' for '--seed"),
        ("simulate --degree -4", 2, "invalid value '-4' for '--degree"),
        ("simulate --threshold -2", 2, "invalid value '-2' for '--threshold"),
        ("params --clients 100 --dropout -0.5", 2, "-0.5 is not a fraction"),
        ("simulate --drop-before-shares inf", 2, "not a fraction"),
        ("simulate --drop-during-unmask 1e9", 2, "not a fraction"),
        ("simulate --corrupt nan", 2, "not a fraction"),
        ("simulate --prg des", 2, "possible values: chacha20, aes"),
        ("simulate --seed x", 2, "--seed"),
        ("simulate --complete --degree 4", 2, "cannot be used with"),
        ("simulate --concurrent-clients --dp epsilon=1,delta=1e-5,clip=1", 2, "cannot be used with"),
        ("simulate --dp epsilon=1,delta=1e-5", 2, "needs epsilon="),
        ("simulate --dp epsilon=1,delta=1e-5,clip=x", 2, "clip"),
        ("simulate --dp epsilon=1,delta=1e-5,clip=1,mu=2", 2, "unknown DP key"),
        ("simulate --dp epsilon=1,delta=1e-5,clip=1,epsilon=8", 2,
         "error: invalid value 'epsilon=1,delta=1e-5,clip=1,epsilon=8' for '--dp <DP>': \
          DP key `epsilon` given twice"),
        ("simulate --dp clip=1,epsilon=1,delta=1e-5,clip=2", 2, "DP key `clip` given twice"),
        ("simulate --clients 10 --dim 8 --dp epsilon=1,delta=1e-5,clip=nan", 2, "clip must be positive"),
        ("simulate --clients 10 --dim 8 --dp epsilon=0,delta=1e-5,clip=1", 2, "epsilon must be positive"),
        ("simulate --clients 10 --dim 8 --dp epsilon=1,delta=1,clip=1", 2, "delta"),
        ("simulate --clients 10 --dim 0 --dp epsilon=1,delta=1e-5,clip=1", 2,
         "error: --dp needs --dim in 1..=268435456 (spec/dp.md), not 0: dimension out of range"),
        ("simulate --dropout 0.6 --drop-during-unmask 0.6", 2, "above 1"),
        ("simulate --clients 10 --degree 3", 2, "Harary degree"),
        ("simulate --clients 10 --degree 4294967295", 2, "Harary degree"),
        ("simulate --clients 10 --threshold 1", 2, "threshold"),
        ("simulate --clients 10 --threshold 4294967295", 2, "threshold"),
        ("simulate --clients 10 --degree 3", 2,
         "error: --degree 3 with --clients 10: invalid parameters: Harary degree must be even"),
        ("simulate --clients 10 --degree 10", 2, "error: --degree 10 with --clients 10: "),
        ("simulate --clients 10 --degree 4 --threshold 6", 2,
         "error: --threshold 6 with k = 4: invalid parameters: threshold must be at least 2"),
        ("simulate --clients 5 --complete --threshold 6", 2, "error: --threshold 6 with k = 4: "),
        ("simulate --clients 5 --degree 0 --threshold 1", 2, "error: --threshold 1 with k = 4: "),
        ("simulate --clients 10 --degree 4 --threshold 2 --malicious", 2, "--malicious with t = 2"),
        ("simulate --corrupt 0.6 --dropout 0.45", 2, "no SecAgg+ parameters"),
        ("params", 2, "--clients"),
        ("params --clients 1", 2, "--clients"),
        ("params --clients 100 --dropout NaN", 2, "not a fraction"),
        ("params --clients 100 --corrupt 0.6 --dropout 0.45", 2,
         "error: no SecAgg+ parameters for 100 clients, 0.6 corrupt, 0.45 dropout: invalid parameters: \
          no threshold is both above the corrupt count and reachable"),
        ("params --clients 3 --malicious", 2,
         "error: no SecAgg+ parameters for 3 clients, 0.05 corrupt, 0.05 dropout, malicious server: "),
        (ABORTS, 1, "round aborted: not enough survivors"),
        (ABORTS_DP, 1, "the DP round aborted: not enough survivors"),
    ];
    for &(line, code, says) in cases {
        let out = secagg(&line.split_whitespace().collect::<Vec<_>>());
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{line}: {err}");
        assert!(err.contains(says), "{line} should say {says:?}: {err}");
        assert!(!err.contains("panicked"), "{line}: {err}");
        assert!(
            err.starts_with("error:") || line.is_empty(),
            "{line}: {err}"
        );
    }
    // An argument that is not UTF-8.
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt as _;
        let bad = OsStr::from_bytes(b"\xff\xfe");
        let out = secagg(&[OsStr::new("simulate"), OsStr::new("--clients"), bad]);
        assert_eq!(out.status.code(), Some(2));
        assert!(!stderr(&out).contains("panicked"));
    }
}

/// Output that cannot be written (a full device, a reader that went away,
/// as in `secagg ... | head`) is an error message and exit code 1, not the
/// panic of `print!`.
#[cfg(target_os = "linux")]
#[test]
fn unwritable_output_is_an_error_not_a_panic() {
    use std::process::Stdio;
    let lines: [&[&str]; 3] = [
        &["simulate", "--clients", "5", "--dim", "4", "--json"],
        &["simulate", "--clients", "5", "--dim", "4"],
        &["params", "--clients", "100"],
    ];
    for line in lines {
        let full = std::fs::File::create("/dev/full").expect("/dev/full");
        let out = Command::new(env!("CARGO_BIN_EXE_secagg"))
            .args(line)
            .stdout(full)
            .output()
            .expect("runs");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{line:?}: {err}");
        assert!(err.starts_with("error: writing the output"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        if line[0] == "params" {
            // Too quick to be sure the reader is gone before it writes.
            continue;
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_secagg"))
            .args(line)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("runs");
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("exits");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{line:?}: {err}");
        assert!(err.contains("Broken pipe"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// t = n on the complete graph: one client dropping aborts the round.
const ABORTS: &str = "simulate --clients 10 --dim 8 --complete --threshold 10 --dropout 0.1";
/// The same with `--dp`.
const ABORTS_DP: &str = "simulate --clients 10 --dim 8 --complete --threshold 10 --dropout 0.1 \
                         --dp epsilon=1,delta=1e-5,clip=1";

/// An aborted round still prints its report: `ok` false with the error.
#[test]
fn aborted_round_reports_ok_false() {
    let mut line: Vec<&str> = ABORTS.split_whitespace().collect();
    line.extend(["--json", "--seed", "1"]);
    let out = secagg(&line);
    assert_eq!(out.status.code(), Some(1));
    let j: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(j["ok"], false);
    assert!(
        j["error"]
            .as_str()
            .is_some_and(|e| e.contains("not enough survivors"))
    );
    assert_eq!(j["sum_sha256"], Value::Null);
}

/// A run that cannot fit in this machine's memory is refused before it
/// starts: with `--dp`, n float vectors and their n encodings of 2^28
/// elements; at the most clients, 2^24 client states holding at least
/// 64 bytes per neighbour each (k from `secagg params`). Where the
/// machine has that much memory (or no /proc/meminfo) there is nothing to
/// check.
#[test]
fn run_beyond_memory_is_refused() {
    let Some(available) = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map(|kib| kib * 1024)
    else {
        return;
    };
    let most = "16777216";
    let k = u64_at(&params_json(&["--clients", most]), "k");
    let dp = "epsilon=1,delta=1e-5,clip=1";
    for (needed, line) in [
        (
            200 * 2 * (1 << 28) * 8,
            ["--clients", "200", "--dim", "268435456", "--dp", dp],
        ),
        (
            (1 << 24) * 64 * k,
            ["--clients", most, "--dim", "1", "--seed", "1"],
        ),
    ] {
        if needed <= available {
            continue;
        }
        let out = secagg(&[&["simulate"][..], &line].concat());
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{line:?}: {err}");
        assert!(
            err.contains("GiB of memory") && err.contains("is available"),
            "{err}"
        );
    }
}

/// `-0` is a fraction in [0, 1), and it is 0: the reports print `0`, not
/// `-0`.
#[test]
fn negative_zero_fractions_are_zero() {
    let flags = ["--corrupt", "-0", "--dropout", "-0.0"];
    let j = params_json(&[&["--clients", "100"][..], &flags].concat());
    assert_eq!(
        (&j["corrupt"], &j["dropout"]),
        (&Value::from(0.0), &Value::from(0.0))
    );
    assert!(!j.to_string().contains("-0"), "{j}");
    let text = stdout(&secagg(
        &[&["params", "--clients", "100"][..], &flags].concat(),
    ));
    assert!(
        text.starts_with("n = 100, corrupt = 0, dropout = 0,"),
        "{text}"
    );
    let line = [
        "--clients",
        "4",
        "--dim",
        "1",
        "--seed",
        "1",
        "--drop-during-unmask",
        "-0",
    ];
    let j = simulate_json(&[&line[..], &flags].concat());
    // serde_json prints -0.0 as `-0.0`.
    assert_eq!(j["corrupt"].to_string(), "0.0");
}

/// `simulate` reports the corrupt fraction it derived (k, t) with, and
/// `null` when `--degree` or `--complete` gave the graph and nothing was
/// derived; `--threshold` alone still derives the graph, so it keeps it.
#[test]
fn corrupt_is_reported_only_when_it_was_used() {
    let base = [
        "--clients",
        "6",
        "--dim",
        "2",
        "--seed",
        "1",
        "--corrupt",
        "0.2",
    ];
    for (extra, expected, k) in [
        (&[][..], Value::from(0.2), None),
        (&["--threshold", "3"][..], Value::from(0.2), None),
        (&["--degree", "4"][..], Value::Null, Some(4)),
        (&["--degree", "0"][..], Value::Null, Some(5)),
        (&["--complete"][..], Value::Null, Some(5)),
        (&["--complete", "--malicious"][..], Value::Null, Some(5)),
    ] {
        let j = simulate_json(&[&base[..], extra].concat());
        assert_eq!(j["ok"], Value::Bool(true), "{extra:?}: {j}");
        assert_eq!(j["corrupt"], expected, "{extra:?}");
        if let Some(k) = k {
            assert_eq!(u64_at(&j, "k"), k, "{extra:?}");
        }
    }
}

/// `secagg params` prints the library's derivation: `derive` (and
/// `derive_malicious` with `--malicious`) where it gives a sparse graph,
/// the complete graph where it gives none.
#[test]
fn params_matches_the_library_derivation() {
    for n in [
        2u32, 3, 10, 50, 100, 500, 1000, 2000, 10_000, 100_000, 1_000_000,
    ] {
        for (c, d) in [
            (0.05, 0.05),
            (0.05, 0.1),
            (0.0, 0.0),
            (0.2, 0.2),
            (0.1, 0.3),
        ] {
            let (cs, ds, ns) = (c.to_string(), d.to_string(), n.to_string());
            for malicious in [false, true] {
                let mut line = vec!["--clients", &ns, "--corrupt", &cs, "--dropout", &ds];
                if malicious {
                    line.push("--malicious");
                }
                let out = secagg(&[&["params", "--json"][..], &line].concat());
                let lib = if malicious {
                    derive_malicious(n, c, d)
                } else {
                    derive(n, c, d)
                };
                if out.status.code() != Some(0) {
                    // No sparse graph, and no safe complete one either.
                    assert_eq!(lib, None, "{line:?}");
                    assert_eq!(out.status.code(), Some(2));
                    continue;
                }
                let j: Value = serde_json::from_slice(&out.stdout).expect("JSON");
                let got = (u64_at(&j, "k") as u32, u64_at(&j, "t") as u32);
                assert_eq!(
                    j["model"],
                    if malicious {
                        "malicious"
                    } else {
                        "semi-honest"
                    }
                );
                match lib {
                    Some(kt) => {
                        assert_eq!(got, kt, "{line:?}");
                        assert_eq!(j["graph"], "harary");
                    }
                    None => {
                        assert_eq!(j["graph"], "complete", "{line:?}");
                        assert_eq!(got.0, n - 1);
                        assert!(got.1 >= 2 && got.1 <= n, "{line:?}: {got:?}");
                    }
                }
            }
        }
    }
}

/// The (k, t) README.md, benches/README.md and spec/performance.md quote
/// for each round, from `secagg params` with the fractions `simulate`
/// derives with (corrupt 0.05; dropout the run's, at least 0.05), and from
/// `simulate` itself at small m.
#[test]
fn quoted_k_and_t() {
    let quoted: &[(&str, &[&str], (u64, u64))] = &[
        ("README, defaults", &["--clients", "100"], (12, 6)),
        (
            "README, 10% drop",
            &["--clients", "100", "--dropout", "0.1"],
            (16, 6),
        ),
        ("README, n = 1000", &["--clients", "1000"], (30, 17)),
        (
            "targets, n = 1000, 10% drop",
            &["--clients", "1000", "--dropout", "0.1"],
            (36, 19),
        ),
        (
            "benches, n = 2000, 10% drop",
            &["--clients", "2000", "--dropout", "0.1"],
            (38, 20),
        ),
        ("README, n = 10,000", &["--clients", "10000"], (34, 20)),
        // "at n = 30,000 ... linear in n at this k and t".
        ("README, n = 30,000", &["--clients", "30000"], (34, 20)),
        ("README, n = 100,000", &["--clients", "100000"], (36, 21)),
        ("README, n = 10^6", &["--clients", "1000000"], (38, 22)),
        (
            "README, malicious",
            &["--clients", "100", "--malicious"],
            (16, 11),
        ),
        (
            "README, malicious 10% drop",
            &["--clients", "100", "--dropout", "0.1", "--malicious"],
            (26, 16),
        ),
        (
            "README, malicious n = 1000",
            &["--clients", "1000", "--malicious"],
            (52, 37),
        ),
    ];
    for &(what, line, kt) in quoted {
        let j = params_json(line);
        assert_eq!((u64_at(&j, "k"), u64_at(&j, "t")), kt, "{what}");
    }
    // simulate derives as params does, with its dropout budget the sum of
    // the run's fractions, at least 0.05 (upload_and_download_columns
    // checks the rows of README.md's table at n = 100).
    for (line, budget) in [
        (&["--dropout", "0.02"][..], "0.05"),
        (&["--drop-during-unmask", "0.1"], "0.1"),
        (
            &["--drop-before-shares", "0.1", "--dropout", "0.05"],
            "0.15000000000000002",
        ),
        (&["--drop-before-shares", "0.1", "--malicious"], "0.1"),
    ] {
        let j =
            simulate_json(&[&["--clients", "200", "--dim", "1", "--seed", "1"][..], line].concat());
        let mut p = vec!["--clients", "200", "--dropout", budget];
        if line.contains(&"--malicious") {
            p.push("--malicious");
        }
        let d = params_json(&p);
        assert_eq!((&j["k"], &j["t"]), (&d["k"], &d["t"]), "{line:?}");
    }
}

/// README.md's performance tables, b = 32: the "k, t", "upload / packed"
/// and "download (KB)" columns. A client's upload is the packed vector
/// `m b / 8` (times the share of clients that sent theirs) plus bytes that
/// depend on k and t but not on m (two runs at different m show it) nor,
/// in the semi-honest model, on n (a run at n = 200 shows it), so the
/// tables' ratios at m = 10^4 to 10^6 and n = 1,000 follow from runs at
/// n = 100 with m = 200 and 1,000, the rows at n = 1,000 taking the (k, t)
/// that `quoted_k_and_t` checks through `--degree` and `--threshold`.
#[test]
fn upload_and_download_columns() {
    // (flags, k and t, (m, upload / packed), download KB at n = 100)
    type Row<'a> = (&'a str, (u64, u64), &'a [(f64, &'a str)], Option<&'a str>);
    #[rustfmt::skip]
    let rows: &[Row] = &[
        // README, first table.
        ("", (12, 6), &[(1e5, "1.0052"), (1e6, "1.0005")], Some("6.7")),
        ("--dropout 0.1", (16, 6), &[(1e5, "0.9062")], Some("8.8")),
        ("--complete", (99, 51), &[(1e5, "1.0387")], Some("338.8")),
        ("--degree 30 --threshold 17", (30, 17), &[(1e4, "1.1242")], Some("37.5")),
        ("--malicious", (16, 11), &[(1e5, "1.0079"), (1e6, "1.0008")], Some("20.6")),
        ("--malicious --dropout 0.1", (26, 16), &[(1e5, "0.9115")], Some("40.2")),
        ("--malicious --degree 52 --threshold 37", (52, 37), &[(1e4, "1.2300")], None),
        ("--malicious --complete", (99, 51), &[(1e5, "1.0395")], Some("366.5")),
        // README, the targets' table (the n = 100 rows are above).
        ("--degree 36 --threshold 19 --dropout 0.1", (36, 19), &[(1e4, "1.0419"), (1e5, "0.9142")], None),
    ];
    let run = |n: &str, m: u64, flags: &str, kt: (u64, u64)| {
        let dim = m.to_string();
        let mut line = vec!["--clients", n, "--dim", &dim, "--seed", "1"];
        line.extend(flags.split_whitespace());
        let j = simulate_json(&line);
        assert_eq!(j["ok"], true);
        assert_eq!((u64_at(&j, "k"), u64_at(&j, "t")), kt, "{flags}");
        let b = &j["bytes"];
        assert_eq!(u64_at(b, "packed_vector"), m * 32 / 8);
        (
            b["upload_per_client"].as_f64().expect("upload"),
            b["download_per_client"].as_f64().expect("download"),
        )
    };
    for &(flags, kt, ratios, download) in rows {
        // The share of clients that sent their vector: 90 of 100 with 10 %
        // dropping after their shares.
        let sent = if flags.contains("--dropout") {
            0.9
        } else {
            1.0
        };
        let (up_a, down_a) = run("100", 200, flags, kt);
        // Linear in m with that slope (checked where a run is cheap; the
        // complete graph's runs take seconds each).
        if !flags.contains("--complete") {
            let (up_b, down_b) = run("100", 1000, flags, kt);
            let slope = (up_b - up_a) / 800.0;
            assert!((slope - 4.0 * sent).abs() < 1e-9, "{flags}: {slope}");
            assert_eq!(down_a, down_b, "{flags}: download depends on m");
        }
        if flags.starts_with("--degree") {
            assert_eq!(run("200", 200, flags, kt), (up_a, down_a), "{flags}");
        }
        for &(m, quoted) in ratios {
            let ratio = (up_a + 4.0 * sent * (m - 200.0)) / (4.0 * m);
            assert_eq!(format!("{ratio:.4}"), quoted, "{flags} at m = {m}");
        }
        if let Some(download) = download {
            assert_eq!(format!("{:.1}", down_a / 1000.0), download, "{flags}");
        }
    }
}

/// README.md, "What protocol v2 costs": the malicious model's evidence and
/// signed messages add 6.7 KB of download per client at n = 100, k = 16,
/// t = 11 (20.64 KB against 13.95 KB semi-honest with the same k and t).
#[test]
fn malicious_download_overhead() {
    let download = |flags: &str| {
        let mut line = vec!["--clients", "100", "--dim", "100", "--seed", "1"];
        line.extend(flags.split_whitespace());
        let j = simulate_json(&line);
        assert_eq!((u64_at(&j, "k"), u64_at(&j, "t")), (16, 11), "{flags}");
        j["bytes"]["download_per_client"]
            .as_f64()
            .expect("download")
            / 1000.0
    };
    let (semi, malicious) = (
        download("--degree 16 --threshold 11"),
        download("--malicious"),
    );
    assert_eq!(
        [
            format!("{semi:.2}"),
            format!("{malicious:.2}"),
            format!("{:.1}", malicious - semi)
        ],
        ["13.95", "20.64", "6.7"]
    );
}

/// The command lines in README.md, benches/README.md, benches/HISTORY.md
/// and spec/ that run
/// the binary (code blocks and inline code), and the argument lists of benches/readme_table.py and
/// benches/targets.py, parse with the current CLI and give an exact round
/// (run with n and m shrunk to at most 30 and 64).
#[test]
fn documented_command_lines_run() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut lines: Vec<Vec<String>> = Vec::new();
    let mut docs = vec![
        root.join("README.md"),
        root.join("benches/README.md"),
        root.join("benches/HISTORY.md"),
    ];
    for spec in std::fs::read_dir(root.join("spec")).expect("spec/") {
        docs.push(spec.expect("spec/").path());
    }
    for doc in docs {
        let text = std::fs::read_to_string(&doc).expect("doc");
        lines.extend(secagg_lines(&text));
    }
    // README.md: the main job, the three rounds at scale and the Flower
    // comparison's; benches/README.md: two in section 1, the loop's three
    // for each PRG, two in 1b, perf's, the params line; spec/crypto.md's
    // four and spec/conformance.md's.
    assert!(lines.len() >= 22, "{lines:?}");
    // benches/flower_compare.py's run for README's comparison (k = 21
    // holders, t = 11, 10 % dropping, n = 500, m = 10^5, AES-128-CTR):
    // `--degree k-1 --threshold t --dropout D --prg P --json`.
    lines.push(
        "simulate --clients 500 --dim 100000 --degree 20 --threshold 11 --dropout 0.1 --prg aes --json"
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
    );
    for script in ["benches/readme_table.py", "benches/targets.py"] {
        let text = std::fs::read_to_string(root.join(script)).expect("script");
        let mut found = 0;
        for l in text.lines() {
            let Some(list) = l.find("[\"--").map(|i| &l[i + 1..]) else {
                continue;
            };
            let Some(end) = list.find(']') else { continue };
            let mut args = vec!["simulate".to_owned(), "--json".to_owned()];
            args.extend(
                list[..end]
                    .split(',')
                    .map(|a| a.trim().trim_matches('"').to_owned()),
            );
            lines.push(args);
            found += 1;
        }
        assert!(found >= 5, "{script}");
    }
    for line in lines {
        let shrunk = shrink(&line);
        let out = secagg(&shrunk);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{line:?} (run as {shrunk:?}): {}",
            stderr(&out)
        );
        let json = shrunk.iter().any(|a| a == "--json");
        match (shrunk[0].as_str(), json) {
            ("simulate", true) => {
                let j: Value = serde_json::from_slice(&out.stdout).expect("JSON");
                assert_eq!(j["ok"], true, "{line:?}");
            }
            ("simulate", false) => assert!(stdout(&out).contains("OK: "), "{line:?}"),
            (_, true) => {
                let j: Value = serde_json::from_slice(&out.stdout).expect("JSON");
                assert!(j["k"].is_u64() && j["t"].is_u64(), "{line:?}");
            }
            (_, false) => assert!(stdout(&out).contains("k = "), "{line:?}"),
        }
    }
}

/// The arguments after the binary of every command in `text` that runs
/// `secagg simulate` or `secagg params`: each shell line of its code blocks
/// (continuations joined, comments dropped) and each inline code span.
/// An inline span without arguments (`secagg simulate`) names the command
/// and is left out. Placeholders become values: `$prg` and `chacha20|aes`
/// both PRGs, the seed `S` 1, `N` 100, `F` 0.1, and an optional `[...]`
/// part is kept.
fn secagg_lines(text: &str) -> Vec<Vec<String>> {
    // (command, whether it is an inline span)
    let mut commands: Vec<(String, bool)> = Vec::new();
    let mut in_block = false;
    let mut pending = String::new();
    for raw in text.lines() {
        if raw.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if !in_block {
            continue;
        }
        let l = raw.split(" #").next().unwrap_or("").trim();
        if let Some(head) = l.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        commands.push((format!("{pending}{l}"), false));
        pending.clear();
    }
    // Inline spans, outside the code blocks (which have no single backticks
    // that matter here): every other piece between backticks.
    let prose: String = text.split("```").step_by(2).collect::<Vec<_>>().join(" ");
    commands.extend(
        prose
            .split('`')
            .skip(1)
            .step_by(2)
            .map(|span| (span.to_owned(), true)),
    );

    let mut out = Vec::new();
    for (command, inline) in commands {
        let words: Vec<&str> = command.split_whitespace().collect();
        let Some(at) = words
            .iter()
            .position(|w| *w == "simulate" || *w == "params")
        else {
            continue;
        };
        if at == 0
            || !(words[at - 1].ends_with("secagg") || words[at - 1] == "--")
            || inline && at + 1 == words.len()
        {
            continue;
        }
        let args: Vec<String> = words[at..]
            .iter()
            .map(|w| match w.trim_matches(|c| c == '[' || c == ']') {
                "S" => "1".to_owned(),
                "N" => "100".to_owned(),
                "F" => "0.1".to_owned(),
                "$prg" | "chacha20|aes" => "$prg".to_owned(),
                w => w.to_owned(),
            })
            .collect();
        if args.iter().any(|a| a == "$prg") {
            for prg in ["chacha20", "aes"] {
                out.push(
                    args.iter()
                        .map(|a| {
                            if a == "$prg" {
                                prg.to_owned()
                            } else {
                                a.clone()
                            }
                        })
                        .collect(),
                );
            }
        } else {
            out.push(args);
        }
    }
    out
}

/// `line` with `--clients` at most 30 and `--dim` at most 64 (added when
/// absent, the defaults being large).
fn shrink(line: &[String]) -> Vec<String> {
    let mut out = line.to_vec();
    if out[0] != "simulate" {
        return out;
    }
    for (flag, most) in [("--clients", 30u64), ("--dim", 64)] {
        match out.iter().position(|a| a == flag) {
            Some(i) => {
                let v: u64 = out[i + 1].parse().expect("a number");
                out[i + 1] = v.min(most).to_string();
            }
            None => out.extend([flag.to_owned(), most.to_string()]),
        }
    }
    out
}
