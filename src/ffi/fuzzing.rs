//! Fuzz entry (the `ffi` target): arbitrary bytes into every C ABI entry
//! point that takes bytes, through the ABI itself, the state imports
//! included. No input may panic (a
//! `SECAGG_STATUS_PANIC` is a finding), and a decode that succeeds must
//! re-encode to its input.

use core::ptr;

use super::*;

fn ok(s: SecaggStatus) -> bool {
    assert_ne!(s, SecaggStatus::Panic, "panic caught at the C boundary");
    s == SecaggStatus::Ok
}

/// A client status comes with an outcome naming the same client (`who`,
/// the client `fault` names); any other status with none.
fn outcome_agrees(st: SecaggStatus, fault: u32, outcome: SecaggOutcome, who: u32) {
    if (20..40).contains(&(st as i32)) {
        assert!(outcome != SecaggOutcome::None && outcome != SecaggOutcome::Aborted);
        assert_eq!(who, fault);
    } else {
        assert_eq!((outcome, who), (SecaggOutcome::None, 0));
    }
}

/// Seed inputs: one per selector, with valid encodings where one exists.
pub fn seeds() -> Vec<Vec<u8>> {
    let params = crate::Params::new(3, 2, 16, 2, crate::Graph::Complete)
        .map(|p| p.to_bytes())
        .unwrap_or_default();
    let dp = crate::dp::DpConfig::new(1.0, 1e-5, 1.0, 2, 24, 3)
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let mut out = vec![[&[0u8][..], &params].concat(), [&[1u8][..], &dp].concat()];
    out.push([2u8; 65].to_vec());
    for sel in 3u8..=6 {
        for phase in [0u8, 1, 2, 192, 193, 194] {
            out.push(vec![sel, phase, 1, 2, 3, 4, 5, 6, 7, 8]);
        }
    }
    // Valid exports of every fixture phase under the fuzzing key, so that
    // mutations reach past the envelope checks.
    for phase in 0u8..3 {
        if let Some((s, cs)) = fixture(phase) {
            let mut code = SecaggClientPhase::AwaitingKeys;
            // SAFETY: live handle, valid out-pointer.
            ok(unsafe { secagg_client_phase(cs[0], &mut code) });
            let sealed = export(|buf, cap, len, rng| {
                // SAFETY: live handle, 32-byte key, the buffer contract of `export`.
                unsafe { secagg_client_export(cs[0], STATE_KEY.as_ptr(), rng, buf, cap, len) }
            });
            out.push([&[CLIENT_IMPORT, code as u8][..], &sealed].concat());
            let mut code = SecaggServerPhase::Over;
            // SAFETY: live handle, valid out-pointer.
            ok(unsafe { secagg_server_phase(s, &mut code) });
            let sealed = export(|buf, cap, len, rng| {
                // SAFETY: live handle, 32-byte key, the buffer contract of `export`.
                unsafe { secagg_server_export(s, STATE_KEY.as_ptr(), rng, buf, cap, len) }
            });
            out.push([&[SERVER_IMPORT, code as u8][..], &sealed].concat());
            free_fixture(s, cs);
        }
    }
    out
}

/// The selector of a client state import.
const CLIENT_IMPORT: u8 = 0xFE;
/// The selector of a server state import.
const SERVER_IMPORT: u8 = 0xFF;
/// The key the fuzzed exports are sealed under.
const STATE_KEY: [u8; 32] = [0x4B; 32];
/// The round of the fixture.
const FIXTURE_ROUND: [u8; 32] = [3u8; 32];

/// Runs an export function with a size query, then into a buffer of that
/// size; the nonce from a seeded source.
fn export(f: impl Fn(*mut u8, usize, *mut usize, *mut SecaggRng) -> SecaggStatus) -> Vec<u8> {
    let mut rng: *mut SecaggRng = ptr::null_mut();
    // SAFETY: valid out-pointer.
    ok(unsafe { secagg_rng_new_seeded(9, &mut rng) });
    let mut len = 0usize;
    let _ = f(ptr::null_mut(), 0, &mut len, rng);
    let mut buf = vec![0u8; len];
    ok(f(buf.as_mut_ptr(), len, &mut len, rng));
    buf.truncate(len);
    // SAFETY: freed once.
    unsafe { secagg_rng_free(rng) };
    buf
}

fn free_fixture(s: *mut SecaggServer, cs: Vec<*mut SecaggClient>) {
    for c in cs {
        // SAFETY: freed once.
        unsafe { secagg_client_free(c) };
    }
    // SAFETY: freed once.
    unsafe { secagg_server_free(s) };
}

/// Arbitrary bytes into `secagg_client_import` (`sel` [`CLIENT_IMPORT`]) or
/// `secagg_server_import`, with the phase code `phase`. An import that
/// succeeds must export again and import from that export in the same
/// phase, under the same key.
fn state_import(sel: u8, phase: u8, bytes: &[u8]) {
    let key = STATE_KEY.as_ptr();
    let round = FIXTURE_ROUND.as_ptr();
    let code = i32::from(phase % 8);
    if sel == CLIENT_IMPORT {
        let mut c: *mut SecaggClient = ptr::null_mut();
        // SAFETY: readable bytes, 32-byte key and round, valid out-pointer.
        if !ok(unsafe {
            secagg_client_import(bytes.as_ptr(), bytes.len(), key, round, code, &mut c)
        }) {
            return;
        }
        let again = export(|buf, cap, len, rng| {
            // SAFETY: live handle, 32-byte key, the buffer contract of `export`.
            unsafe { secagg_client_export(c, key, rng, buf, cap, len) }
        });
        let mut d: *mut SecaggClient = ptr::null_mut();
        // SAFETY: as above.
        assert!(ok(unsafe {
            secagg_client_import(again.as_ptr(), again.len(), key, round, code, &mut d)
        }));
        // SAFETY: each freed once.
        unsafe {
            secagg_client_free(c);
            secagg_client_free(d);
        }
    } else {
        let mut s: *mut SecaggServer = ptr::null_mut();
        // SAFETY: readable bytes, 32-byte key and round, valid out-pointer.
        if !ok(unsafe {
            secagg_server_import(bytes.as_ptr(), bytes.len(), key, round, code, &mut s)
        }) {
            return;
        }
        let again = export(|buf, cap, len, rng| {
            // SAFETY: live handle, 32-byte key, the buffer contract of `export`.
            unsafe { secagg_server_export(s, key, rng, buf, cap, len) }
        });
        let mut t: *mut SecaggServer = ptr::null_mut();
        // SAFETY: as above.
        assert!(ok(unsafe {
            secagg_server_import(again.as_ptr(), again.len(), key, round, code, &mut t)
        }));
        // SAFETY: each freed once.
        unsafe {
            secagg_server_free(s);
            secagg_server_free(t);
        }
    }
}

/// Reads the pending client message.
fn client_msg(c: *const SecaggClient) -> Vec<u8> {
    let mut len = 0usize;
    // SAFETY: a size query on a live handle with a valid length pointer.
    unsafe { secagg_client_message(c, ptr::null_mut(), 0, &mut len) };
    let mut buf = vec![0u8; len];
    // SAFETY: `buf` holds `len` writable bytes.
    unsafe { secagg_client_message(c, buf.as_mut_ptr(), len, &mut len) };
    buf
}

/// Reads the server's message for `to`, if any.
fn server_msg(s: *const SecaggServer, to: u32) -> Option<Vec<u8>> {
    let mut len = 0usize;
    // SAFETY: a size query on a live handle with a valid length pointer.
    if unsafe { secagg_server_message(s, to, ptr::null_mut(), 0, &mut len) }
        != SecaggStatus::ShortBuffer
    {
        return None;
    }
    let mut buf = vec![0u8; len];
    // SAFETY: `buf` holds `len` writable bytes.
    ok(unsafe { secagg_server_message(s, to, buf.as_mut_ptr(), len, &mut len) });
    Some(buf)
}

/// A 3-client semi-honest round driven through the ABI until the clients
/// await `phase` (0 keys, 1 shares, 2 unmask); `(server, clients)`.
fn fixture(phase: u8) -> Option<(*mut SecaggServer, Vec<*mut SecaggClient>)> {
    let mut p: *mut SecaggParams = ptr::null_mut();
    let round = FIXTURE_ROUND;
    // SAFETY: valid pointers to locals.
    if !ok(unsafe { secagg_params_new(3, 2, 16, 2, &mut p) }) {
        return None;
    }
    // A seeded source: a finding replays byte for byte.
    let mut rng: *mut SecaggRng = ptr::null_mut();
    // SAFETY: valid out-pointer.
    ok(unsafe { secagg_rng_new_seeded(u64::from(phase), &mut rng) });
    let mut s: *mut SecaggServer = ptr::null_mut();
    // SAFETY: live params and source, 32-byte round, valid out-pointer.
    ok(unsafe { secagg_server_new(p, round.as_ptr(), ptr::null(), rng, &mut s) });
    let mut cs = Vec::new();
    for i in 1..=3u32 {
        let mut c: *mut SecaggClient = ptr::null_mut();
        // SAFETY: as above.
        ok(unsafe {
            secagg_client_new(p, round.as_ptr(), i, ptr::null(), ptr::null(), rng, &mut c)
        });
        let m = client_msg(c);
        // SAFETY: live server, readable message.
        ok(unsafe { secagg_server_receive(s, i, m.as_ptr(), m.len(), ptr::null_mut()) });
        cs.push(c);
    }
    // SAFETY: live params handle, freed once (the others copied it).
    unsafe { secagg_params_free(p) };
    for step in 0..phase {
        // SAFETY: live server.
        ok(unsafe { secagg_server_close_phase(s) });
        for (i, &c) in (1u32..).zip(&cs) {
            let Some(m) = server_msg(s, i) else {
                break;
            };
            let input = [1u64, 2];
            // SAFETY: live client, readable message and input.
            let st = unsafe {
                if step == 0 {
                    secagg_client_receive_keys(c, m.as_ptr(), m.len(), rng, ptr::null_mut())
                } else {
                    secagg_client_receive_shares(
                        c,
                        m.as_ptr(),
                        m.len(),
                        input.as_ptr(),
                        2,
                        ptr::null_mut(),
                    )
                }
            };
            ok(st);
            let out = client_msg(c);
            // SAFETY: live server, readable message.
            ok(unsafe { secagg_server_receive(s, i, out.as_ptr(), out.len(), ptr::null_mut()) });
        }
    }
    // SAFETY: freed once; the handles above do not keep it.
    unsafe { secagg_rng_free(rng) };
    Some((s, cs))
}

/// The `ffi` fuzz target: `data[0]` picks the entry point (params or DP
/// config decoding, a roster, a client receive in the phase `data[1]`
/// picks, a server receive, DP encoding or decoding; `0xFE` and `0xFF` a
/// client or server state import in the phase code `data[1]`); the rest
/// is its input.
pub fn entry_points(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    if sel == CLIENT_IMPORT || sel == SERVER_IMPORT {
        if let Some((&phase, bytes)) = rest.split_first() {
            state_import(sel, phase, bytes);
        }
        return;
    }
    match sel % 7 {
        0 => {
            let mut p: *mut SecaggParams = ptr::null_mut();
            // SAFETY: readable input, valid out-pointer.
            if ok(unsafe { secagg_params_decode(rest.as_ptr(), rest.len(), &mut p) }) {
                let mut buf = vec![0u8; rest.len()];
                let mut len = 0usize;
                // SAFETY: live handle, `buf` of `rest.len()` bytes.
                ok(unsafe { secagg_params_encode(p, buf.as_mut_ptr(), buf.len(), &mut len) });
                assert_eq!(&buf[..len], rest);
                let mut prg = SecaggPrg::Chacha20;
                // SAFETY: live handle, valid out-pointer.
                ok(unsafe { secagg_params_prg(p, &mut prg) });
                // SAFETY: freed once.
                unsafe { secagg_params_free(p) };
            }
        }
        1 => {
            let mut c: *mut SecaggDpConfig = ptr::null_mut();
            // SAFETY: readable input, valid out-pointer.
            if ok(unsafe { secagg_dp_config_decode(rest.as_ptr(), rest.len(), &mut c) }) {
                let mut buf = vec![0u8; rest.len()];
                let mut len = 0usize;
                // SAFETY: live handle, `buf` of `rest.len()` bytes.
                ok(unsafe { secagg_dp_config_encode(c, buf.as_mut_ptr(), buf.len(), &mut len) });
                assert_eq!(&buf[..len], rest);
                // SAFETY: freed once.
                unsafe { secagg_dp_config_free(c) };
            }
        }
        2 => {
            let mut r: *mut SecaggRoster = ptr::null_mut();
            // SAFETY: `rest` holds at least `32 * (len / 32)` bytes.
            if ok(unsafe { secagg_roster_new(rest.as_ptr(), rest.len() / 32, &mut r) }) {
                // SAFETY: live handle.
                assert_eq!(unsafe { secagg_roster_len(r) }, rest.len() / 32);
                // SAFETY: freed once.
                unsafe { secagg_roster_free(r) };
            }
        }
        3 | 4 => {
            let Some((&phase, bytes)) = rest.split_first() else {
                return;
            };
            let Some((s, cs)) = fixture(phase % 3) else {
                return;
            };
            let mut fault = 0u32;
            if sel % 7 == 3 {
                let c = cs[0];
                let input = [u64::from(phase), 7];
                // SAFETY: live client, readable bytes and input.
                let st = unsafe {
                    match phase % 3 {
                        0 => secagg_client_receive_keys(
                            c,
                            bytes.as_ptr(),
                            bytes.len(),
                            ptr::null_mut(),
                            &mut fault,
                        ),
                        1 => secagg_client_receive_shares(
                            c,
                            bytes.as_ptr(),
                            bytes.len(),
                            input.as_ptr(),
                            2,
                            &mut fault,
                        ),
                        _ => {
                            secagg_client_receive_unmask(c, bytes.as_ptr(), bytes.len(), &mut fault)
                        }
                    }
                };
                ok(st);
            } else if phase >= 192 {
                // A batch through secagg_server_receive_all: the bytes from
                // a sender, again (a resend), and from another client.
                let from = u32::from(phase % 4);
                let senders = [from, from, from % 3 + 1];
                let messages = [bytes.as_ptr(); 3];
                let lens = [bytes.len(); 3];
                let mut statuses = [SecaggStatus::Panic; 3];
                let mut faults = [u32::MAX; 3];
                let mut outcomes = [SecaggOutcome::Aborted; 3];
                // SAFETY: live server; arrays of 3, each message readable.
                ok(unsafe {
                    secagg_server_receive_all(
                        s,
                        3,
                        senders.as_ptr(),
                        messages.as_ptr(),
                        lens.as_ptr(),
                        statuses.as_mut_ptr(),
                        faults.as_mut_ptr(),
                        outcomes.as_mut_ptr(),
                    )
                });
                for k in 0..3 {
                    ok(statuses[k]);
                    let who = if outcomes[k] == SecaggOutcome::None {
                        0
                    } else {
                        senders[k]
                    };
                    outcome_agrees(statuses[k], faults[k], outcomes[k], who);
                }
                // A byte-identical resend of a message taken is a no-op.
                assert!(statuses[0] != SecaggStatus::Ok || statuses[1] == SecaggStatus::Ok);
                // The handle's outcome is the last message's.
                let (mut outcome, mut who) = (SecaggOutcome::Aborted, u32::MAX);
                // SAFETY: live server, valid out-pointers.
                ok(unsafe { secagg_server_outcome(s, &mut outcome, &mut who) });
                assert_eq!(outcome, outcomes[2]);
                outcome_agrees(statuses[2], faults[2], outcome, who);
                // SAFETY: live server.
                ok(unsafe { secagg_server_close_phase(s) });
            } else {
                let from = u32::from(phase / 3);
                // SAFETY: live server, readable bytes.
                let st = unsafe {
                    secagg_server_receive(s, from, bytes.as_ptr(), bytes.len(), &mut fault)
                };
                ok(st);
                let (mut outcome, mut who) = (SecaggOutcome::Aborted, u32::MAX);
                // SAFETY: live server, valid out-pointers.
                ok(unsafe { secagg_server_outcome(s, &mut outcome, &mut who) });
                outcome_agrees(st, fault, outcome, who);
                // SAFETY: live server.
                ok(unsafe { secagg_server_close_phase(s) });
            }
            free_fixture(s, cs);
        }
        5 | 6 => {
            let mut opts = core::mem::MaybeUninit::<SecaggDpOptions>::uninit();
            // SAFETY: valid out-pointer; written on success.
            if !ok(unsafe {
                secagg_dp_options_default(4.0, 1e-5, 1.0, 4, 24, 3, opts.as_mut_ptr())
            }) {
                return;
            }
            // SAFETY: initialised by the successful call above.
            let opts = unsafe { opts.assume_init() };
            let mut c: *mut SecaggDpConfig = ptr::null_mut();
            // SAFETY: readable options, valid out-pointer.
            ok(unsafe { secagg_dp_config_new(&opts, &mut c) });
            let seed = [5u8; 32];
            let mut len = 0usize;
            if sel % 7 == 5 {
                let x: Vec<f64> = rest
                    .chunks_exact(8)
                    .map(|b| f64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
                    .collect();
                let mut out = [0u64; 4];
                // SAFETY: readable x and seed, `out` of 4 elements.
                let _ = ok(unsafe {
                    secagg_dp_encode(
                        c,
                        x.as_ptr(),
                        x.len(),
                        seed.as_ptr(),
                        out.as_mut_ptr(),
                        4,
                        &mut len,
                    )
                });
            } else {
                let sum: Vec<u64> = rest
                    .chunks_exact(8)
                    .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
                    .collect();
                let mut out = [0f64; 4];
                let mut report = core::mem::MaybeUninit::<SecaggPrivacyReport>::uninit();
                // SAFETY: readable sum and seed, `out` of 4 elements.
                let _ = ok(unsafe {
                    secagg_dp_decode(
                        c,
                        sum.as_ptr(),
                        sum.len(),
                        usize::from(rest.first().copied().unwrap_or(0)),
                        seed.as_ptr(),
                        rest.len() % 2 == 1,
                        out.as_mut_ptr(),
                        4,
                        &mut len,
                        report.as_mut_ptr(),
                    )
                });
            }
            // SAFETY: freed once.
            unsafe { secagg_dp_config_free(c) };
        }
        _ => {}
    }
}
