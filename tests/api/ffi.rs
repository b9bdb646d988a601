//! The C ABI from Rust: the committed header matches the code
//! (spec/ffi.md section 1), and the buffer and NULL rules hold. The full
//! round through the ABI runs in C (tests/c/round.c) and Python.
#![cfg(feature = "ffi")]
#![allow(unsafe_code, reason = "calls the C ABI as a C caller would")]

use std::ptr;

use secagg::ffi::*;

/// Regenerates include/secagg.h from src/ffi with cbindgen.toml and fails
/// when it differs from the committed file. `SECAGG_BLESS=1` rewrites it.
#[test]
fn header_matches() {
    let root = env!("CARGO_MANIFEST_DIR");
    let config = cbindgen::Config::from_file(format!("{root}/cbindgen.toml")).unwrap();
    let mut out = Vec::new();
    cbindgen::Builder::new()
        .with_crate(root)
        .with_config(config)
        .generate()
        .unwrap()
        .write(&mut out);
    let path = format!("{root}/include/secagg.h");
    if std::env::var_os("SECAGG_BLESS").is_some() {
        std::fs::write(&path, &out).unwrap();
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == out,
        "include/secagg.h drifted from src/ffi: rerun with SECAGG_BLESS=1 and commit"
    );
}

/// Every status the header declares has a distinct message, and an
/// unknown code gets the generic one.
#[test]
fn status_messages() {
    let text = |c: i32| {
        // SAFETY: the function returns a static NUL-terminated string.
        unsafe { std::ffi::CStr::from_ptr(secagg_status_message(c)) }
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(text(0), "success");
    assert_eq!(
        text(SecaggStatus::ShortBuffer as i32),
        "output buffer too small; the needed length was written"
    );
    assert_eq!(text(9999), "unknown status code");
    assert_eq!(text(-1), "unknown status code");
    let header =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/secagg.h")).unwrap();
    let declared = header.matches("SECAGG_STATUS_").count();
    assert!(declared >= 77, "{declared}");
}

#[test]
fn null_and_short_buffers() {
    let mut params: *mut SecaggParams = ptr::null_mut();
    // SAFETY: valid out-pointer.
    assert_eq!(
        unsafe { secagg_params_new(4, 3, 32, 3, &mut params) },
        SecaggStatus::Ok
    );
    // NULL out-pointer and handle.
    // SAFETY: NULL is allowed everywhere.
    unsafe {
        assert_eq!(
            secagg_params_new(4, 3, 32, 3, ptr::null_mut()),
            SecaggStatus::NullPointer
        );
        assert_eq!(
            secagg_params_encode(ptr::null(), ptr::null_mut(), 0, ptr::null_mut()),
            SecaggStatus::NullPointer
        );
        secagg_params_free(ptr::null_mut());
    }
    // A size query, a short buffer (nothing written), then the real call.
    let mut len = 0usize;
    // SAFETY: `params` is live; `len` writable.
    assert_eq!(
        unsafe { secagg_params_encode(params, ptr::null_mut(), 0, &mut len) },
        SecaggStatus::ShortBuffer
    );
    let mut buf = vec![0xAAu8; len];
    let mut short = 0usize;
    // SAFETY: `buf` has `len - 1` writable bytes at least.
    assert_eq!(
        unsafe { secagg_params_encode(params, buf.as_mut_ptr(), len - 1, &mut short) },
        SecaggStatus::ShortBuffer
    );
    assert_eq!(short, len);
    assert!(buf.iter().all(|&b| b == 0xAA));
    let mut got = 0usize;
    // SAFETY: `buf` has `len` writable bytes.
    assert_eq!(
        unsafe { secagg_params_encode(params, buf.as_mut_ptr(), len, &mut got) },
        SecaggStatus::Ok
    );
    assert_eq!(got, len);
    let expected = secagg::Params::new(4, 3, 32, 3, secagg::Graph::Complete)
        .unwrap()
        .to_bytes();
    assert_eq!(buf, expected);
    // Bad parameters map to their codes.
    let mut bad: *mut SecaggParams = ptr::null_mut();
    // SAFETY: valid out-pointer.
    assert_eq!(
        unsafe { secagg_params_new(4, 1, 32, 3, &mut bad) },
        SecaggStatus::ParamsThreshold
    );
    assert!(bad.is_null());
    // SAFETY: live handle, freed once.
    unsafe { secagg_params_free(params) };
}

/// The `ffi` fuzz target's corpus and seeds, replayed (as
/// fuzz_corpus.rs does for the other targets).
/// The PRG chosen through the ABI is the Rust `Params::with_prg` encoding
/// (spec/ffi.md section 1).
#[test]
fn prg_selection_matches_rust() {
    let mut base: *mut SecaggParams = ptr::null_mut();
    let mut aes: *mut SecaggParams = ptr::null_mut();
    // SAFETY: valid out-pointers; live handles below, each freed once.
    unsafe {
        assert_eq!(secagg_params_new(5, 3, 32, 8, &mut base), SecaggStatus::Ok);
        assert_eq!(
            secagg_params_with_prg(base, 2, &mut aes),
            SecaggStatus::InvalidArgument
        );
        assert!(aes.is_null());
        assert_eq!(
            secagg_params_with_prg(base, SecaggPrg::Aes128Ctr as i32, &mut aes),
            SecaggStatus::Ok
        );
        let mut prg = SecaggPrg::Chacha20;
        assert_eq!(secagg_params_prg(aes, &mut prg), SecaggStatus::Ok);
        assert_eq!(prg, SecaggPrg::Aes128Ctr);
        let mut buf = vec![0u8; 512];
        let mut len = 0usize;
        assert_eq!(
            secagg_params_encode(aes, buf.as_mut_ptr(), buf.len(), &mut len),
            SecaggStatus::Ok
        );
        let want = secagg::Params::new(5, 3, 32, 8, secagg::Graph::Complete)
            .unwrap()
            .with_prg(secagg::Prg::Aes128Ctr)
            .to_bytes();
        assert_eq!(&buf[..len], &want[..]);
        secagg_params_free(aes);
        secagg_params_free(base);
    }
}

/// `secagg_server_outcome` reports the `Outcome` of `Error::Client`
/// (spec/protocol.md section 5.4), and NONE after anything else.
#[test]
fn server_outcome_follows_the_last_call() {
    let mut params: *mut SecaggParams = ptr::null_mut();
    let mut server: *mut SecaggServer = ptr::null_mut();
    let round = [8u8; 32];
    let outcome_of = |s: *const SecaggServer| {
        let (mut o, mut i) = (SecaggOutcome::Aborted, u32::MAX);
        // SAFETY: live handle, valid out-pointers.
        assert_eq!(
            unsafe { secagg_server_outcome(s, &mut o, &mut i) },
            SecaggStatus::Ok
        );
        (o, i)
    };
    // SAFETY: valid out-pointers and inputs; live handles, each freed once.
    unsafe {
        assert_eq!(
            secagg_params_new(3, 2, 32, 2, &mut params),
            SecaggStatus::Ok
        );
        assert_eq!(
            secagg_server_new(
                params,
                round.as_ptr(),
                ptr::null(),
                ptr::null_mut(),
                &mut server
            ),
            SecaggStatus::Ok
        );
        assert_eq!(outcome_of(server), (SecaggOutcome::None, 0));
        let junk = [0xFFu8; 3];
        let mut fault = 0u32;
        assert_eq!(
            secagg_server_receive(server, 2, junk.as_ptr(), junk.len(), &mut fault),
            SecaggStatus::ClientMalformed
        );
        assert_eq!(fault, 2);
        assert_eq!(outcome_of(server), (SecaggOutcome::Excluded, 2));
        assert_eq!(
            secagg_server_receive(server, 2, junk.as_ptr(), junk.len(), &mut fault),
            SecaggStatus::ClientNotInPhase
        );
        assert_eq!(outcome_of(server), (SecaggOutcome::Ignored, 2));
        assert_eq!(
            secagg_server_receive(server, 1, ptr::null(), 1, &mut fault),
            SecaggStatus::NullPointer
        );
        assert_eq!(outcome_of(server), (SecaggOutcome::None, 0));
        assert_eq!(
            secagg_server_outcome(server, ptr::null_mut(), ptr::null_mut()),
            SecaggStatus::NullPointer
        );
        secagg_server_free(server);
        secagg_params_free(params);
    }
}

/// `secagg_server_receive_all` gives each message the status, fault index
/// and outcome `secagg_server_receive` gives it in turn, leaves the same
/// server behind, and refuses a caller's error before taking anything
/// (spec/ffi.md section 2).
#[test]
fn server_receive_all_matches_receive_in_turn() {
    let round = [9u8; 32];
    let mut params: *mut SecaggParams = ptr::null_mut();
    let mut client: *mut SecaggClient = ptr::null_mut();
    let (mut one, mut all): (*mut SecaggServer, *mut SecaggServer) =
        (ptr::null_mut(), ptr::null_mut());
    let pending = |s: *const SecaggServer| {
        let mut buf = [0u32; 8];
        let mut len = 0usize;
        // SAFETY: live handle, a buffer of 8.
        let st = unsafe {
            secagg_server_clients(
                s,
                SecaggClientList::Pending as i32,
                buf.as_mut_ptr(),
                8,
                &mut len,
            )
        };
        assert_eq!(st, SecaggStatus::Ok);
        buf[..len].to_vec()
    };
    // SAFETY: valid out-pointers and inputs; live handles, each freed once.
    unsafe {
        assert_eq!(
            secagg_params_new(3, 2, 32, 2, &mut params),
            SecaggStatus::Ok
        );
        for s in [&mut one, &mut all] {
            let st = secagg_server_new(params, round.as_ptr(), ptr::null(), ptr::null_mut(), s);
            assert_eq!(st, SecaggStatus::Ok);
        }
        let st = secagg_client_new(
            params,
            round.as_ptr(),
            3,
            ptr::null(),
            ptr::null(),
            ptr::null_mut(),
            &mut client,
        );
        assert_eq!(st, SecaggStatus::Ok);
        let mut keys = vec![0u8; 256];
        let mut len = 0usize;
        let st = secagg_client_message(client, keys.as_mut_ptr(), keys.len(), &mut len);
        assert_eq!(st, SecaggStatus::Ok);
        keys.truncate(len);
        let junk = [0xFFu8; 3];
        // Garbage, the same sender again, a stranger, a client's real keys
        // and their byte-identical resend.
        let batch: [(u32, &[u8]); 5] = [(2, &junk), (2, &junk), (9, &junk), (3, &keys), (3, &keys)];
        let mut want = Vec::new();
        for &(from, bytes) in &batch {
            let mut fault = u32::MAX;
            let st = secagg_server_receive(one, from, bytes.as_ptr(), bytes.len(), &mut fault);
            let (mut o, mut i) = (SecaggOutcome::Aborted, u32::MAX);
            assert_eq!(secagg_server_outcome(one, &mut o, &mut i), SecaggStatus::Ok);
            want.push((st, fault, o));
        }
        assert_eq!(
            want,
            [
                (SecaggStatus::ClientMalformed, 2, SecaggOutcome::Excluded),
                (SecaggStatus::ClientNotInPhase, 2, SecaggOutcome::Ignored),
                (SecaggStatus::ClientUnknownSender, 9, SecaggOutcome::Ignored),
                (SecaggStatus::Ok, 0, SecaggOutcome::None),
                (SecaggStatus::Ok, 0, SecaggOutcome::None),
            ]
        );
        let senders: Vec<u32> = batch.iter().map(|b| b.0).collect();
        let mut messages: Vec<*const u8> = batch.iter().map(|b| b.1.as_ptr()).collect();
        let lens: Vec<usize> = batch.iter().map(|b| b.1.len()).collect();
        let mut statuses = [SecaggStatus::Panic; 5];
        let mut faults = [u32::MAX; 5];
        let mut outcomes = [SecaggOutcome::Aborted; 5];
        let (f, o) = (faults.as_mut_ptr(), outcomes.as_mut_ptr());
        // Arrays of 5; each message NULL or `lens[k]` readable bytes.
        let receive_all = |messages: &[*const u8], statuses: *mut SecaggStatus| {
            let (senders, lens) = (senders.as_ptr(), lens.as_ptr());
            secagg_server_receive_all(all, 5, senders, messages.as_ptr(), lens, statuses, f, o)
        };
        // A NULL message with a length is the caller's error: nothing taken
        // or written.
        messages[1] = ptr::null();
        let st = receive_all(&messages, statuses.as_mut_ptr());
        assert_eq!(st, SecaggStatus::NullPointer);
        assert_eq!(statuses, [SecaggStatus::Panic; 5]);
        assert_eq!(pending(all), [1, 2, 3]);
        messages[1] = junk.as_ptr();
        let st = receive_all(&messages, ptr::null_mut());
        assert_eq!(st, SecaggStatus::NullPointer, "statuses are required");
        assert_eq!(pending(all), [1, 2, 3]);
        let st = receive_all(&messages, statuses.as_mut_ptr());
        assert_eq!(st, SecaggStatus::Ok);
        let got: Vec<_> = (0..5)
            .map(|k| (statuses[k], faults[k], outcomes[k]))
            .collect();
        assert_eq!(got, want);
        assert_eq!(pending(all), pending(one));
        assert_eq!(pending(all), [1]);
        // An empty batch needs no arrays.
        let st = secagg_server_receive_all(
            all,
            0,
            ptr::null(),
            ptr::null(),
            ptr::null(),
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
        );
        assert_eq!(st, SecaggStatus::Ok);
        secagg_client_free(client);
        secagg_server_free(one);
        secagg_server_free(all);
        secagg_params_free(params);
    }
}

#[test]
fn fuzz_corpus_replays() {
    let dir = crate::fuzz_corpus::fuzz_dir();
    let corpus = crate::fuzz_corpus::inputs(&dir.join("corpus").join("ffi"));
    assert!(!corpus.is_empty(), "fuzz/corpus/ffi is empty");
    let regressions = crate::fuzz_corpus::inputs(&dir.join("regressions").join("ffi"));
    for (path, data) in corpus.iter().chain(&regressions) {
        let r = std::panic::catch_unwind(|| fuzzing::entry_points(data));
        assert!(r.is_ok(), "ffi fuzz target fails on {}", path.display());
    }
    for seed in fuzzing::seeds() {
        fuzzing::entry_points(&seed);
    }
}

/// Writes the seeds into fuzz/corpus/ffi (run once by hand).
#[test]
#[ignore = "writes fuzz/corpus/ffi; run by hand when the seeds change"]
fn write_ffi_seed_corpus() {
    let dir = crate::fuzz_corpus::fuzz_dir().join("corpus").join("ffi");
    std::fs::create_dir_all(&dir).unwrap();
    for (i, seed) in fuzzing::seeds().iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i:02}")), seed).unwrap();
    }
}

/// The status every call returns: `Ok` or a failure, compared exactly.
#[track_caller]
fn ok(status: SecaggStatus) {
    assert_eq!(status, SecaggStatus::Ok);
}

/// A length no caller can have: its bytes exceed `isize::MAX`.
const TOO_LONG: usize = isize::MAX as usize + 1;

/// The bytes of a `(buf, cap, len)` output: the size query, then the call.
///
/// # Safety
/// `f` calls an output function on live handles.
unsafe fn read_out(f: impl Fn(*mut u8, usize, *mut usize) -> SecaggStatus) -> Vec<u8> {
    let mut need = 0usize;
    let st = f(ptr::null_mut(), 0, &mut need);
    if st == SecaggStatus::Ok {
        return Vec::new();
    }
    assert_eq!(st, SecaggStatus::ShortBuffer);
    let mut buf = vec![0u8; need];
    let mut len = 0usize;
    ok(f(buf.as_mut_ptr(), need, &mut len));
    assert_eq!(len, need);
    buf
}

/// A client's sealed state with the nonce of a fresh source seeded alike:
/// two of these are equal exactly when the states are.
///
/// # Safety
/// `c` is a live handle.
unsafe fn client_state(c: *const SecaggClient) -> Vec<u8> {
    let mut rng: *mut SecaggRng = ptr::null_mut();
    // SAFETY: valid out-pointer; the source lives through both calls.
    unsafe {
        ok(secagg_rng_new_seeded(1, &mut rng));
        let sealed =
            read_out(|b, cap, len| secagg_client_export(c, STATE_KEY.as_ptr(), rng, b, cap, len));
        secagg_rng_free(rng);
        sealed
    }
}

/// [`client_state`] for a server.
///
/// # Safety
/// `s` is a live handle.
unsafe fn server_state(s: *const SecaggServer) -> Vec<u8> {
    let mut rng: *mut SecaggRng = ptr::null_mut();
    // SAFETY: valid out-pointer; the source lives through both calls.
    unsafe {
        ok(secagg_rng_new_seeded(1, &mut rng));
        let sealed =
            read_out(|b, cap, len| secagg_server_export(s, STATE_KEY.as_ptr(), rng, b, cap, len));
        secagg_rng_free(rng);
        sealed
    }
}

const STATE_KEY: [u8; 32] = [0x42; 32];

/// The outcome and index `secagg_server_outcome` reports.
///
/// # Safety
/// `s` is a live handle.
unsafe fn outcome(s: *const SecaggServer) -> (SecaggOutcome, u32) {
    let (mut o, mut i) = (SecaggOutcome::Aborted, u32::MAX);
    // SAFETY: live handle, valid out-pointers.
    ok(unsafe { secagg_server_outcome(s, &mut o, &mut i) });
    (o, i)
}

/// Every code the header declares is one of `ALL_STATUSES`, has its own
/// message and sits in its family's range (spec/ffi.md section 3); every
/// other number gets the generic text; the other enums keep the values
/// spec/ffi.md gives them.
#[test]
fn header_codes_families_and_enum_values() {
    let header =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/secagg.h")).unwrap();
    // `    PREFIX_NAME = N,` lines of the header's enums.
    let values = |prefix: &str| -> Vec<(String, i32)> {
        header
            .lines()
            .filter_map(|l| {
                let (name, value) = l.trim().strip_suffix(',')?.split_once(" = ")?;
                let name = name.strip_prefix(prefix)?;
                Some((name.to_owned(), value.parse().ok()?))
            })
            .collect()
    };
    let text = |c: i32| {
        // SAFETY: a static NUL-terminated string, never NULL.
        unsafe { std::ffi::CStr::from_ptr(secagg_status_message(c)) }
            .to_str()
            .unwrap()
    };
    let statuses = values("SECAGG_STATUS_");
    assert_eq!(statuses.len(), ALL_STATUSES.len());
    let general = [
        "OK",
        "NULL_POINTER",
        "SHORT_BUFFER",
        "INVALID_ARGUMENT",
        "PANIC",
        "OUT_OF_ORDER",
        "NOT_FOUND",
        "RANDOMNESS",
        "UNKNOWN",
    ];
    for (name, code) in &statuses {
        let status = ALL_STATUSES.iter().find(|s| **s as i32 == *code);
        let status = status.unwrap_or_else(|| panic!("{name} = {code} is not a status"));
        assert_eq!(text(*code), status.message().to_str().unwrap(), "{name}");
        assert_ne!(text(*code), "unknown status code", "{name}");
        // The same static text every time.
        assert_eq!(secagg_status_message(*code), secagg_status_message(*code));
        let range = match name.as_str() {
            n if general.contains(&n) => 0..=9,
            "NOT_ENOUGH_SURVIVORS" => 60..=60,
            n if n.starts_with("DECODE_") => 10..=19,
            n if n.starts_with("CLIENT_") => 20..=39,
            n if n.starts_with("SERVER_") => 40..=59,
            n if n.starts_with("PARAMS_") => 70..=89,
            n if n.starts_with("MISUSE_") => 90..=109,
            n if n.starts_with("DP_") => 110..=129,
            n if n.starts_with("STATE_") => 130..=149,
            n => panic!("{n} belongs to no family"),
        };
        assert!(range.contains(code), "{name} = {code} outside {range:?}");
    }
    let declared: Vec<i32> = statuses.iter().map(|(_, c)| *c).collect();
    for (k, name) in general.iter().enumerate() {
        assert!(statuses.contains(&((*name).to_owned(), k as i32)), "{name}");
    }
    for (k, name) in [
        "MALFORMED",
        "VERSION",
        "ROUND",
        "PHASE",
        "ROLE",
        "AUTHENTICATION",
    ]
    .iter()
    .enumerate()
    {
        assert!(
            statuses.contains(&(format!("STATE_{name}"), 130 + k as i32)),
            "{name}"
        );
    }
    for code in (-1000..1000).chain([i32::MIN, i32::MAX]) {
        if !declared.contains(&code) {
            assert_eq!(text(code), "unknown status code", "{code}");
        }
    }
    // The other enums, as spec/ffi.md sections 1 and 2 number them.
    let named = |prefix: &str, names: &[&str]| {
        let want: Vec<(String, i32)> = names
            .iter()
            .enumerate()
            .map(|(k, n)| ((*n).to_owned(), k as i32))
            .collect();
        assert_eq!(values(prefix), want, "{prefix}");
    };
    named(
        "SECAGG_CLIENT_PHASE_",
        &[
            "AWAITING_KEYS",
            "AWAITING_SHARES",
            "AWAITING_UNMASK",
            "AWAITING_CONSISTENCY",
            "DONE",
            "OVER",
        ],
    );
    named(
        "SECAGG_SERVER_PHASE_",
        &[
            "ADVERTISE_KEYS",
            "SHARE_KEYS",
            "MASKED_INPUT",
            "CONSISTENCY",
            "UNMASK",
            "OVER",
        ],
    );
    named("SECAGG_PRG_", &["CHACHA20", "AES128_CTR"]);
    named(
        "SECAGG_OUTCOME_",
        &["NONE", "IGNORED", "EXCLUDED", "NAMED", "ABORTED"],
    );
    named(
        "SECAGG_CLIENT_LIST_",
        &["RECIPIENTS", "PENDING", "EXCLUDED", "SURVIVORS"],
    );
}

/// `secagg_version` is the crate's version, one static string.
#[test]
fn version_is_the_crate_version() {
    // SAFETY: a static NUL-terminated string, never NULL.
    let v = unsafe { std::ffi::CStr::from_ptr(secagg_version()) };
    assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    assert_eq!(secagg_version(), secagg_version());
}

/// A call refused for being out of order, for a caller's error or for
/// server bytes that do not decode changes nothing: the client's sealed
/// state (under a nonce from equal seeds) is byte for byte the same, and
/// so is its message. On the server, a stranger's message (IGNORED), a
/// byte-identical resend and a batch refused for a caller's error leave
/// the same state (spec/ffi.md sections 1 and 2, spec/protocol.md 5.4).
#[test]
fn refused_calls_change_nothing() {
    let round = [12u8; 32];
    let junk = [0xFFu8; 5];
    let mut params: *mut SecaggParams = ptr::null_mut();
    let mut server: *mut SecaggServer = ptr::null_mut();
    let mut clients = [ptr::null_mut::<SecaggClient>(); 4];
    // SAFETY: valid out-pointers and inputs; live handles, each freed once.
    unsafe {
        ok(secagg_params_new(3, 2, 8, 2, &mut params));
        ok(secagg_server_new(
            params,
            round.as_ptr(),
            ptr::null(),
            ptr::null_mut(),
            &mut server,
        ));
        for (i, c) in clients.iter_mut().enumerate().skip(1) {
            let st = secagg_client_new(
                params,
                round.as_ptr(),
                i as u32,
                ptr::null(),
                ptr::null(),
                ptr::null_mut(),
                c,
            );
            ok(st);
        }
        let c = clients[1];
        let message =
            |c: *const SecaggClient| read_out(|b, cap, len| secagg_client_message(c, b, cap, len));
        let phase = |c: *const SecaggClient| {
            let mut p = SecaggClientPhase::Over;
            ok(secagg_client_phase(c, &mut p));
            p
        };
        let input = [1u64, 2];
        let mut fault = 0u32;
        let before = (client_state(c), message(c));
        let refused = [
            (
                secagg_client_receive_shares(c, junk.as_ptr(), 5, input.as_ptr(), 2, &mut fault),
                SecaggStatus::OutOfOrder,
            ),
            (
                secagg_client_receive_consistency(c, junk.as_ptr(), 5, &mut fault),
                SecaggStatus::OutOfOrder,
            ),
            (
                secagg_client_receive_unmask(c, junk.as_ptr(), 5, &mut fault),
                SecaggStatus::OutOfOrder,
            ),
            (
                secagg_client_receive_keys(c, ptr::null(), 5, ptr::null_mut(), &mut fault),
                SecaggStatus::NullPointer,
            ),
            (
                secagg_client_receive_keys(c, junk.as_ptr(), TOO_LONG, ptr::null_mut(), &mut fault),
                SecaggStatus::InvalidArgument,
            ),
            (
                secagg_client_receive_keys(c, junk.as_ptr(), 5, ptr::null_mut(), &mut fault),
                SecaggStatus::ServerMalformed,
            ),
            (
                secagg_client_receive_keys(c, ptr::null(), 0, ptr::null_mut(), &mut fault),
                SecaggStatus::ServerMalformed,
            ),
        ];
        for (k, (got, want)) in refused.iter().enumerate() {
            assert_eq!(got, want, "call {k}");
        }
        assert_eq!((client_state(c), message(c)), before);
        assert_eq!(phase(c), SecaggClientPhase::AwaitingKeys);

        // The server: senders 1 and 2 in, then what must change nothing.
        for (i, &client) in clients.iter().enumerate().take(3).skip(1) {
            let m = message(client);
            ok(secagg_server_receive(
                server,
                i as u32,
                m.as_ptr(),
                m.len(),
                &mut fault,
            ));
        }
        let taken = server_state(server);
        let m1 = message(clients[1]);
        ok(secagg_server_receive(
            server,
            1,
            m1.as_ptr(),
            m1.len(),
            &mut fault,
        ));
        let st = secagg_server_receive(server, 8, junk.as_ptr(), junk.len(), &mut fault);
        assert_eq!(
            (st, fault, outcome(server)),
            (
                SecaggStatus::ClientUnknownSender,
                8,
                (SecaggOutcome::Ignored, 8)
            )
        );
        let st = secagg_server_receive(server, 3, junk.as_ptr(), TOO_LONG, &mut fault);
        assert_eq!(
            (st, fault, outcome(server)),
            (SecaggStatus::InvalidArgument, 0, (SecaggOutcome::None, 0))
        );
        let m3 = message(clients[3]);
        let senders = [3u32, 3];
        let msgs = [m3.as_ptr(), junk.as_ptr()];
        let lens = [m3.len(), TOO_LONG];
        let mut statuses = [SecaggStatus::Panic; 2];
        let st = secagg_server_receive_all(
            server,
            2,
            senders.as_ptr(),
            msgs.as_ptr(),
            lens.as_ptr(),
            statuses.as_mut_ptr(),
            ptr::null_mut(),
            ptr::null_mut(),
        );
        assert_eq!(
            (st, statuses),
            (SecaggStatus::InvalidArgument, [SecaggStatus::Panic; 2])
        );
        // The pointers' bytes overflow though the senders' would fit.
        let st = secagg_server_receive_all(
            server,
            isize::MAX as usize / 8 + 1,
            senders.as_ptr(),
            msgs.as_ptr(),
            lens.as_ptr(),
            statuses.as_mut_ptr(),
            ptr::null_mut(),
            ptr::null_mut(),
        );
        assert_eq!(
            (st, statuses),
            (SecaggStatus::InvalidArgument, [SecaggStatus::Panic; 2])
        );
        assert_eq!(server_state(server), taken);
        // The snapshot does see a change: client 3's keys taken.
        let m3 = message(clients[3]);
        ok(secagg_server_receive(
            server,
            3,
            m3.as_ptr(),
            m3.len(),
            &mut fault,
        ));
        assert_ne!(server_state(server), taken);

        // Client 1 awaits the shares: a wrong input or a repeated broadcast
        // changes nothing either.
        ok(secagg_server_close_phase(server));
        let keys = read_out(|b, cap, len| secagg_server_message(server, 1, b, cap, len));
        ok(secagg_client_receive_keys(
            c,
            keys.as_ptr(),
            keys.len(),
            ptr::null_mut(),
            &mut fault,
        ));
        assert_ne!(
            client_state(c),
            before.0,
            "a receive taken changes the state"
        );
        let before = (client_state(c), message(c));
        let wide = [1u64, 256];
        let refused = [
            (
                secagg_client_receive_keys(
                    c,
                    keys.as_ptr(),
                    keys.len(),
                    ptr::null_mut(),
                    &mut fault,
                ),
                SecaggStatus::OutOfOrder,
            ),
            (
                secagg_client_receive_shares(c, junk.as_ptr(), 5, input.as_ptr(), 1, &mut fault),
                SecaggStatus::MisuseInputLength,
            ),
            (
                secagg_client_receive_shares(c, junk.as_ptr(), 5, wide.as_ptr(), 2, &mut fault),
                SecaggStatus::MisuseInputRange,
            ),
            (
                secagg_client_receive_shares(
                    c,
                    junk.as_ptr(),
                    5,
                    input.as_ptr(),
                    TOO_LONG / 8 + 1,
                    &mut fault,
                ),
                SecaggStatus::InvalidArgument,
            ),
            (
                secagg_client_receive_shares(c, junk.as_ptr(), 5, ptr::null(), 2, &mut fault),
                SecaggStatus::NullPointer,
            ),
            (
                secagg_client_receive_unmask(c, junk.as_ptr(), 5, &mut fault),
                SecaggStatus::OutOfOrder,
            ),
            // A valid input with a delivery that does not decode: the
            // input is not kept either.
            (
                secagg_client_receive_shares(c, junk.as_ptr(), 5, input.as_ptr(), 2, &mut fault),
                SecaggStatus::ServerMalformed,
            ),
        ];
        for (k, (got, want)) in refused.iter().enumerate() {
            assert_eq!(got, want, "call {k}");
        }
        assert_eq!((client_state(c), message(c)), before);
        assert_eq!(phase(c), SecaggClientPhase::AwaitingShares);

        for c in clients.into_iter().skip(1) {
            secagg_client_free(c);
        }
        secagg_server_free(server);
        secagg_params_free(params);
    }
}

/// `secagg_server_outcome` describes the last receive or phase close only:
/// other calls leave it, an empty batch and a batch ending in a message
/// taken make it NONE, a batch ending in a refusal names that sender, a
/// close (successful, or failing without a client code) makes it NONE, and
/// an imported server starts at NONE (spec/ffi.md section 2).
#[test]
fn server_outcome_is_the_last_receive_or_close() {
    let round = [13u8; 32];
    let junk = [0xFFu8; 5];
    let mut params: *mut SecaggParams = ptr::null_mut();
    let mut server: *mut SecaggServer = ptr::null_mut();
    let mut client: *mut SecaggClient = ptr::null_mut();
    // SAFETY: valid out-pointers and inputs; live handles, each freed once.
    unsafe {
        ok(secagg_params_new(3, 2, 16, 2, &mut params));
        ok(secagg_server_new(
            params,
            round.as_ptr(),
            ptr::null(),
            ptr::null_mut(),
            &mut server,
        ));
        ok(secagg_client_new(
            params,
            round.as_ptr(),
            1,
            ptr::null(),
            ptr::null(),
            ptr::null_mut(),
            &mut client,
        ));
        let keys = read_out(|b, cap, len| secagg_client_message(client, b, cap, len));
        let mut fault = 0u32;
        let stranger = |from: u32| {
            let st =
                secagg_server_receive(server, from, junk.as_ptr(), junk.len(), ptr::null_mut());
            assert_eq!(st, SecaggStatus::ClientUnknownSender);
            assert_eq!(outcome(server), (SecaggOutcome::Ignored, from));
        };
        stranger(9);
        // Calls other than receive and close leave it.
        let mut buf = [0u8; 4096];
        let mut len = 0usize;
        let mut list = [0u32; 8];
        let mut phase = SecaggServerPhase::Over;
        let mut session = [0u8; 32];
        ok(secagg_server_phase(server, &mut phase));
        ok(secagg_server_session(server, session.as_mut_ptr()));
        ok(secagg_server_clients(
            server,
            SecaggClientList::Pending as i32,
            list.as_mut_ptr(),
            8,
            &mut len,
        ));
        assert_eq!(
            secagg_server_message(server, 1, buf.as_mut_ptr(), buf.len(), &mut len),
            SecaggStatus::NotFound
        );
        assert_eq!(
            secagg_server_sum(server, ptr::null_mut(), 0, &mut len),
            SecaggStatus::OutOfOrder
        );
        ok(secagg_server_export(
            server,
            STATE_KEY.as_ptr(),
            ptr::null_mut(),
            buf.as_mut_ptr(),
            buf.len(),
            &mut len,
        ));
        assert_eq!(outcome(server), (SecaggOutcome::Ignored, 9));
        // An empty batch.
        ok(secagg_server_receive_all(
            server,
            0,
            ptr::null(),
            ptr::null(),
            ptr::null(),
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
        ));
        assert_eq!(outcome(server), (SecaggOutcome::None, 0));
        // A batch ending in a message taken, then one ending in a refusal.
        stranger(9);
        let mut statuses = [SecaggStatus::Panic; 2];
        let mut outcomes = [SecaggOutcome::Aborted; 2];
        let senders = [7u32, 1];
        let msgs = [junk.as_ptr(), keys.as_ptr()];
        let lens = [junk.len(), keys.len()];
        ok(secagg_server_receive_all(
            server,
            2,
            senders.as_ptr(),
            msgs.as_ptr(),
            lens.as_ptr(),
            statuses.as_mut_ptr(),
            ptr::null_mut(),
            outcomes.as_mut_ptr(),
        ));
        assert_eq!(
            statuses,
            [SecaggStatus::ClientUnknownSender, SecaggStatus::Ok]
        );
        assert_eq!(outcomes, [SecaggOutcome::Ignored, SecaggOutcome::None]);
        assert_eq!(outcome(server), (SecaggOutcome::None, 0));
        let senders = [1u32, 6];
        let msgs = [keys.as_ptr(), junk.as_ptr()];
        ok(secagg_server_receive_all(
            server,
            2,
            senders.as_ptr(),
            msgs.as_ptr(),
            [keys.len(), junk.len()].as_ptr(),
            statuses.as_mut_ptr(),
            ptr::null_mut(),
            outcomes.as_mut_ptr(),
        ));
        assert_eq!(
            statuses,
            [SecaggStatus::Ok, SecaggStatus::ClientUnknownSender]
        );
        assert_eq!(outcome(server), (SecaggOutcome::Ignored, 6));
        // A close that fails without naming a client (one of three is
        // below t = 2): NONE.
        let mut aborted: *mut SecaggServer = ptr::null_mut();
        let sealed = read_out(|b, cap, len| {
            secagg_server_export(server, STATE_KEY.as_ptr(), ptr::null_mut(), b, cap, len)
        });
        ok(secagg_server_import(
            sealed.as_ptr(),
            sealed.len(),
            STATE_KEY.as_ptr(),
            round.as_ptr(),
            SecaggServerPhase::AdvertiseKeys as i32,
            &mut aborted,
        ));
        assert_eq!(outcome(aborted), (SecaggOutcome::None, 0));
        let st = secagg_server_receive(aborted, 5, junk.as_ptr(), junk.len(), &mut fault);
        assert_eq!((st, fault), (SecaggStatus::ClientUnknownSender, 5));
        assert_eq!(
            secagg_server_close_phase(aborted),
            SecaggStatus::NotEnoughSurvivors
        );
        assert_eq!(outcome(aborted), (SecaggOutcome::None, 0));
        secagg_server_free(aborted);
        // A close that succeeds: NONE.
        for i in 2..=3 {
            let mut c: *mut SecaggClient = ptr::null_mut();
            ok(secagg_client_new(
                params,
                round.as_ptr(),
                i,
                ptr::null(),
                ptr::null(),
                ptr::null_mut(),
                &mut c,
            ));
            let m = read_out(|b, cap, len| secagg_client_message(c, b, cap, len));
            ok(secagg_server_receive(
                server,
                i,
                m.as_ptr(),
                m.len(),
                &mut fault,
            ));
            secagg_client_free(c);
        }
        stranger(4);
        ok(secagg_server_close_phase(server));
        assert_eq!(outcome(server), (SecaggOutcome::None, 0));
        secagg_client_free(client);
        secagg_server_free(server);
        secagg_params_free(params);
    }
}

/// The DP functions' argument rules (spec/ffi.md section 2, the header):
/// each invalid field gives its code and writes nothing; an epsilon limit
/// that is NaN, negative or below epsilon is refused; a release the limit
/// refuses writes neither the values, their length nor the report; the
/// configuration parameters carry is the one given.
#[test]
fn dp_argument_rules() {
    let seed = [3u8; 32];
    let mut opts = SecaggDpOptions {
        mechanism: 9,
        epsilon: 0.5,
        delta: 0.0,
        clip: 0.0,
        beta: 0.0,
        wrap_probability: 0.0,
        dim: 0,
        bits: 0,
        clients: 0,
        min_honest: 0,
        corrupt: 0,
        rounds: 0,
        epsilon_limit: 0.0,
    };
    let untouched = opts;
    // SAFETY: valid out-pointers and inputs; live handles, each freed once.
    unsafe {
        for (args, want) in [
            ((f64::NAN, 1e-5, 1.0, 8, 24, 4), SecaggStatus::DpEpsilon),
            (
                (f64::INFINITY, 1e-5, 1.0, 8, 24, 4),
                SecaggStatus::DpEpsilon,
            ),
            ((1.0, 0.0, 1.0, 8, 24, 4), SecaggStatus::DpDelta),
            ((1.0, 1e-5, f64::NAN, 8, 24, 4), SecaggStatus::DpClip),
            ((1.0, 1e-5, 1.0, 0, 24, 4), SecaggStatus::DpDimension),
            ((1.0, 1e-5, 1.0, 8, 24, 0), SecaggStatus::DpClients),
        ] {
            let (e, d, c, m, b, n) = args;
            assert_eq!(
                secagg_dp_options_default(e, d, c, m, b, n, &mut opts),
                want,
                "{args:?}"
            );
            assert_eq!(opts, untouched);
        }
        ok(secagg_dp_options_default(
            10.0, 1e-5, 1.0, 8, 24, 4, &mut opts,
        ));
        // The documented defaults: discrete Gaussian, beta e^-0.5, wrap
        // probability 1e-6, every client honest, one round, no limit.
        assert_eq!(
            (opts.mechanism, opts.rounds, opts.epsilon_limit),
            (0, 1, 0.0)
        );
        assert_eq!((opts.beta, opts.wrap_probability), ((-0.5f64).exp(), 1e-6));
        assert_eq!((opts.clients, opts.min_honest, opts.corrupt), (4, 4, 0));
        assert_eq!(
            (opts.dim, opts.bits, opts.epsilon, opts.delta, opts.clip),
            (8, 24, 10.0, 1e-5, 1.0)
        );
        // The padded dimension is the next power of two.
        let mut five = opts;
        five.dim = 5;
        let mut cfg: *mut SecaggDpConfig = ptr::null_mut();
        ok(secagg_dp_config_new(&five, &mut cfg));
        let mut d = 0usize;
        ok(secagg_dp_config_padded_dim(cfg, &mut d));
        assert_eq!(d, 8);
        secagg_dp_config_free(cfg);
        let good = opts;
        let sentinel = ptr::NonNull::<SecaggDpConfig>::dangling().as_ptr();
        let mut dp = sentinel;
        for (edit, want) in [
            (
                (|o: &mut SecaggDpOptions| o.mechanism = 2) as fn(&mut SecaggDpOptions),
                SecaggStatus::InvalidArgument,
            ),
            (|o| o.mechanism = u32::MAX, SecaggStatus::InvalidArgument),
            (|o| o.epsilon_limit = f64::NAN, SecaggStatus::DpEpsilon),
            (|o| o.epsilon_limit = -1.0, SecaggStatus::DpEpsilon),
            (|o| o.epsilon_limit = 5.0, SecaggStatus::DpEpsilon),
            (|o| o.epsilon_limit = f64::INFINITY, SecaggStatus::DpEpsilon),
            (|o| o.beta = 1.0, SecaggStatus::DpBeta),
            (
                |o| o.wrap_probability = 0.0,
                SecaggStatus::DpWrapProbability,
            ),
            (|o| o.min_honest = 0, SecaggStatus::DpClients),
            (|o| o.corrupt = 1, SecaggStatus::DpClients),
            (|o| o.rounds = 0, SecaggStatus::DpRounds),
            (|o| o.bits = 65, SecaggStatus::DpBits),
        ] {
            let mut o = good;
            edit(&mut o);
            assert_eq!(secagg_dp_config_new(&o, &mut dp), want, "{o:?}");
            assert_eq!(dp, sentinel);
        }
        // A limit the reached epsilon exceeds with one survivor of four.
        let mut limited = good;
        limited.epsilon_limit = 10.0;
        ok(secagg_dp_config_new(&limited, &mut dp));
        let mut back = untouched;
        ok(secagg_dp_config_options(dp, &mut back));
        assert_eq!(back, limited);
        let x = [0.25f64; 8];
        let mut d = 0usize;
        ok(secagg_dp_config_padded_dim(dp, &mut d));
        assert_eq!(d, 8);
        let mut enc = [0u64; 8];
        let mut len = 0usize;
        ok(secagg_dp_encode(
            dp,
            x.as_ptr(),
            8,
            seed.as_ptr(),
            enc.as_mut_ptr(),
            8,
            &mut len,
        ));
        assert_eq!(len, 8);
        let mut out = [7.5f64; 8];
        let mut report = SecaggPrivacyReport {
            epsilon: 1.5,
            delta: 1.5,
            epsilon_reached: 1.5,
            survivors: 99,
            honest: 99,
            min_honest: 99,
            rounds: 99,
        };
        let report0 = report;
        let mut len = 77usize;
        let st = secagg_dp_decode(
            dp,
            enc.as_ptr(),
            8,
            1,
            seed.as_ptr(),
            false,
            out.as_mut_ptr(),
            8,
            &mut len,
            &mut report,
        );
        assert_eq!(st, SecaggStatus::DpReleaseRefused);
        assert_eq!((out, len, report), ([7.5; 8], 77, report0));
        // Four survivors: released.
        ok(secagg_dp_decode(
            dp,
            enc.as_ptr(),
            8,
            4,
            seed.as_ptr(),
            false,
            out.as_mut_ptr(),
            8,
            &mut len,
            &mut report,
        ));
        assert_eq!((len, report.survivors, report.epsilon), (8, 4, 10.0));
        assert!(report.epsilon_reached <= 10.0);
        // The mean is the sum divided by the survivors.
        let mut mean = [0f64; 8];
        ok(secagg_dp_decode(
            dp,
            enc.as_ptr(),
            8,
            4,
            seed.as_ptr(),
            true,
            mean.as_mut_ptr(),
            8,
            &mut len,
            &mut report,
        ));
        assert_eq!(mean, out.map(|v| v / 4.0));
        // Encode: what is refused writes neither the values nor the length.
        let mut enc = [5u64; 8];
        let mut len = 77usize;
        let nan = [f64::NAN; 8];
        for (st, want) in [
            (
                secagg_dp_encode(
                    dp,
                    nan.as_ptr(),
                    8,
                    seed.as_ptr(),
                    enc.as_mut_ptr(),
                    8,
                    &mut len,
                ),
                SecaggStatus::DpNonFiniteInput,
            ),
            (
                secagg_dp_encode(
                    dp,
                    x.as_ptr(),
                    7,
                    seed.as_ptr(),
                    enc.as_mut_ptr(),
                    8,
                    &mut len,
                ),
                SecaggStatus::DpInputLength,
            ),
            (
                secagg_dp_encode(
                    dp,
                    ptr::null(),
                    0,
                    seed.as_ptr(),
                    enc.as_mut_ptr(),
                    8,
                    &mut len,
                ),
                SecaggStatus::DpInputLength,
            ),
            (
                secagg_dp_encode(
                    dp,
                    x.as_ptr(),
                    8,
                    ptr::null(),
                    enc.as_mut_ptr(),
                    8,
                    &mut len,
                ),
                SecaggStatus::NullPointer,
            ),
            (
                secagg_dp_encode(
                    dp,
                    x.as_ptr(),
                    TOO_LONG / 8,
                    seed.as_ptr(),
                    enc.as_mut_ptr(),
                    8,
                    &mut len,
                ),
                SecaggStatus::InvalidArgument,
            ),
            (
                secagg_dp_decode(
                    dp,
                    ptr::null(),
                    0,
                    4,
                    seed.as_ptr(),
                    false,
                    out.as_mut_ptr(),
                    8,
                    &mut len,
                    &mut report,
                ),
                SecaggStatus::DpInputLength,
            ),
            (
                secagg_dp_decode(
                    dp,
                    enc.as_ptr(),
                    8,
                    0,
                    seed.as_ptr(),
                    true,
                    out.as_mut_ptr(),
                    8,
                    &mut len,
                    &mut report,
                ),
                SecaggStatus::DpNoContributors,
            ),
        ] {
            assert_eq!(st, want);
        }
        assert_eq!((enc, len), ([5; 8], 77));
        // The parameters carry this very configuration, or refuse another n.
        let mut params: *mut SecaggParams = ptr::null_mut();
        let mut other: *mut SecaggParams = ptr::null_mut();
        ok(secagg_params_new(4, 3, 24, 8, &mut params));
        ok(secagg_params_new(5, 3, 24, 8, &mut other));
        let mut with = ptr::NonNull::<SecaggParams>::dangling().as_ptr();
        let dangling = with;
        assert_eq!(
            secagg_params_with_dp(other, dp, &mut with),
            SecaggStatus::DpParamsMismatch
        );
        assert_eq!(with, dangling);
        // Another b, another m: refused too.
        for (b, m) in [(23, 8), (24, 7), (24, 16)] {
            let mut p: *mut SecaggParams = ptr::null_mut();
            ok(secagg_params_new(4, 3, b, m, &mut p));
            assert_eq!(
                secagg_params_with_dp(p, dp, &mut with),
                SecaggStatus::DpParamsMismatch,
                "b {b}, m {m}"
            );
            secagg_params_free(p);
        }
        assert_eq!(with, dangling);
        ok(secagg_params_with_dp(params, dp, &mut with));
        secagg_params_free(params);
        let mut carried: *mut SecaggDpConfig = ptr::null_mut();
        ok(secagg_params_dp(with, &mut carried));
        secagg_params_free(with);
        let a = read_out(|b, cap, len| secagg_dp_config_encode(dp, b, cap, len));
        let b = read_out(|b, cap, len| secagg_dp_config_encode(carried, b, cap, len));
        assert_eq!(a, b);
        secagg_dp_config_free(carried);
        secagg_dp_config_free(dp);
        secagg_params_free(other);
    }
}

/// The report `secagg_dp_decode` writes is field for field the Rust
/// `Calibration::report` for the survivors given, with corrupt clients
/// (honest survivors fewer than survivors) and two rounds, so that each
/// count lands in its own field (spec/ffi.md section 8, the DP rules).
#[test]
fn dp_report_is_the_rust_report() {
    let mut config = secagg::dp::DpConfig::new(10.0, 1e-5, 1.0, 8, 24, 4).unwrap();
    config.corrupt = 1;
    config.min_honest = 3;
    config.rounds = 2;
    let want = config.calibrate().unwrap().report(3);
    assert_eq!((want.survivors, want.honest), (3, 2));
    let seed = [5u8; 32];
    let x = [0.25f64; 8];
    // SAFETY: valid out-pointers and inputs; the handle is freed once.
    unsafe {
        let mut opts = std::mem::zeroed::<SecaggDpOptions>();
        ok(secagg_dp_options_default(
            10.0, 1e-5, 1.0, 8, 24, 4, &mut opts,
        ));
        opts.corrupt = 1;
        opts.min_honest = 3;
        opts.rounds = 2;
        let mut dp: *mut SecaggDpConfig = ptr::null_mut();
        ok(secagg_dp_config_new(&opts, &mut dp));
        let mut enc = [0u64; 8];
        let mut len = 0usize;
        ok(secagg_dp_encode(
            dp,
            x.as_ptr(),
            8,
            seed.as_ptr(),
            enc.as_mut_ptr(),
            8,
            &mut len,
        ));
        let mut out = [0f64; 8];
        let mut report = std::mem::zeroed::<SecaggPrivacyReport>();
        ok(secagg_dp_decode(
            dp,
            enc.as_ptr(),
            8,
            3,
            seed.as_ptr(),
            false,
            out.as_mut_ptr(),
            8,
            &mut len,
            &mut report,
        ));
        secagg_dp_config_free(dp);
        assert_eq!(
            report,
            SecaggPrivacyReport {
                epsilon: want.epsilon,
                delta: want.delta,
                epsilon_reached: want.epsilon_reached,
                survivors: 3,
                honest: 2,
                min_honest: 3,
                rounds: 2,
            }
        );
    }
}

/// `secagg_rng_fill` with a length whose bytes overflow is
/// `INVALID_ARGUMENT` (the status of every other such length), not a
/// caught panic, and draws nothing: the stream goes on as a twin's.
#[test]
fn rng_fill_refuses_an_overflowing_length() {
    let (mut a, mut b): (*mut SecaggRng, *mut SecaggRng) = (ptr::null_mut(), ptr::null_mut());
    let mut buf = [0u8; 32];
    let mut twin = [1u8; 32];
    // SAFETY: valid out-pointers; live handles, each freed once. The
    // overflowing lengths are refused before `buf` is written.
    unsafe {
        ok(secagg_rng_new_seeded(4, &mut a));
        ok(secagg_rng_new_seeded(4, &mut b));
        for len in [usize::MAX, TOO_LONG] {
            assert_eq!(
                secagg_rng_fill(a, buf.as_mut_ptr(), len),
                SecaggStatus::InvalidArgument
            );
        }
        assert_eq!(buf, [0; 32]);
        ok(secagg_rng_fill(a, buf.as_mut_ptr(), 32));
        ok(secagg_rng_fill(b, twin.as_mut_ptr(), 32));
        assert_eq!(buf, twin);
        secagg_rng_free(a);
        secagg_rng_free(b);
    }
}
