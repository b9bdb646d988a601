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
