//! The fuzz corpus, replayed: every input saved in `fuzz/corpus/<target>/`
//! and every finding in `fuzz/regressions/<target>/` goes through the same
//! `secagg::fuzzing` function as the fuzz target `<target>`, so a plain
//! `cargo test` catches a regression without the fuzzer (spec/security.md).

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use secagg::{
    Aggregate, AwaitingKeys, ClientFault, ClientIndex, Error, Graph, Params, Server, Step, fuzzing,
};

use crate::common::{ROUND, rng};

/// A fuzz target's name and the function it calls.
pub type Target = (&'static str, fn(&[u8]));

/// Every fuzz target in `fuzz/fuzz_targets/` and the function it calls.
pub const TARGETS: [Target; 16] = [
    ("decode_advertise_keys", fuzzing::decode_advertise_keys),
    ("decode_key_broadcast", fuzzing::decode_key_broadcast),
    ("decode_share_keys", fuzzing::decode_share_keys),
    ("decode_share_delivery", fuzzing::decode_share_delivery),
    ("decode_masked_input", fuzzing::decode_masked_input),
    ("decode_unmask_request", fuzzing::decode_unmask_request),
    ("decode_unmask_response", fuzzing::decode_unmask_response),
    (
        "decode_consistency_request",
        fuzzing::decode_consistency_request,
    ),
    (
        "decode_consistency_response",
        fuzzing::decode_consistency_response,
    ),
    ("decode_params", fuzzing::decode_params),
    ("decode_dp_config", secagg::dp::fuzzing::decode_dp_config),
    ("client", fuzzing::client),
    ("server", fuzzing::server),
    ("shamir", fuzzing::shamir),
    ("decode_client_state", fuzzing::decode_client_state),
    ("decode_server_state", fuzzing::decode_server_state),
];

/// `fuzz/` in the source tree.
pub fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files in `dir` (none if it does not exist), by name.
pub fn inputs(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(PathBuf, Vec<u8>)> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .map(|p| {
            let data = fs::read(&p).unwrap();
            (p, data)
        })
        .collect();
    out.sort();
    out
}

fn function(target: &str) -> fn(&[u8]) {
    TARGETS.iter().find(|(t, _)| *t == target).unwrap().1
}

/// Runs `data` through `target`, naming the input if it panics.
fn run_one(target: &str, name: &str, data: &[u8]) {
    let f = function(target);
    if catch_unwind(AssertUnwindSafe(|| f(data))).is_err() {
        panic!("fuzz target {target} fails on {name}");
    }
}

/// Replays the corpus, the regressions and the built-in seeds of `target`.
fn replay(target: &str) {
    let dir = fuzz_dir();
    let corpus = inputs(&dir.join("corpus").join(target));
    assert!(
        !corpus.is_empty(),
        "fuzz/corpus/{target} is empty: run fuzz/run.sh and commit the corpus"
    );
    let regressions = inputs(&dir.join("regressions").join(target));
    for (path, data) in corpus.iter().chain(&regressions) {
        run_one(target, &path.display().to_string(), data);
    }
    for (i, seed) in fuzzing::seeds(target).iter().enumerate() {
        run_one(target, &format!("seed {i}"), seed);
    }
}

macro_rules! corpus_tests {
    ($($target:ident),* $(,)?) => {
        $(
            #[test]
            fn $target() {
                replay(stringify!($target));
            }
        )*
    };
}

corpus_tests!(
    decode_advertise_keys,
    decode_key_broadcast,
    decode_share_keys,
    decode_share_delivery,
    decode_masked_input,
    decode_unmask_request,
    decode_unmask_response,
    decode_consistency_request,
    decode_consistency_response,
    decode_params,
    decode_dp_config,
    client,
    server,
    shamir,
    decode_client_state,
    decode_server_state,
);

#[test]
fn every_fuzz_target_is_listed_and_replayed() {
    let mut on_disk: Vec<String> = fs::read_dir(fuzz_dir().join("fuzz_targets"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| Some(p.file_stem()?.to_str()?.to_owned()))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = TARGETS.iter().map(|(t, _)| (*t).to_owned()).collect();
    // The C ABI's target, replayed by ffi::fuzz_corpus_replays (feature ffi).
    listed.push("ffi".to_owned());
    listed.sort();
    assert_eq!(on_disk, listed);
}

/// The decoder targets' seeds are genuine messages under both server
/// models: each decodes under the parameters its first byte picks, so
/// fuzzing starts past the header and the signature fields.
#[test]
fn decoder_seeds_decode_in_both_models() {
    use secagg::Decode;
    use secagg::protocol::messages::{
        AdvertiseKeys, ConsistencyRequest, ConsistencyResponse, KeyBroadcast, MaskedInput,
        ShareDelivery, ShareKeys, UnmaskRequest, UnmaskResponse,
    };
    fn ok<M: Decode<Context = Params>>(p: &Params, b: &[u8]) -> bool {
        M::decode(p, b).is_ok()
    }
    type Decodes = fn(&Params, &[u8]) -> bool;
    let decoders: [(&str, Decodes); 9] = [
        ("decode_advertise_keys", ok::<AdvertiseKeys>),
        ("decode_key_broadcast", ok::<KeyBroadcast>),
        ("decode_share_keys", ok::<ShareKeys>),
        ("decode_share_delivery", ok::<ShareDelivery>),
        ("decode_masked_input", ok::<MaskedInput>),
        ("decode_unmask_request", ok::<UnmaskRequest>),
        ("decode_unmask_response", ok::<UnmaskResponse>),
        ("decode_consistency_request", ok::<ConsistencyRequest>),
        ("decode_consistency_response", ok::<ConsistencyResponse>),
    ];
    for (target, decodes) in decoders {
        let mut models = [0usize; 2];
        for seed in fuzzing::seeds(target) {
            let (&sel, body) = seed.split_first().unwrap();
            let p = fuzzing::small_params(sel).unwrap();
            assert!(
                decodes(&p, body),
                "{target}: seed under {sel:#04x} does not decode"
            );
            models[usize::from(p.is_malicious())] += 1;
        }
        assert!(
            models.iter().all(|&m| m >= 4),
            "{target}: seeds per model {models:?}"
        );
    }
    // Every selector byte gives parameters; bit 7 is the malicious model.
    for sel in 0..=255u8 {
        let p = fuzzing::small_params(sel).unwrap();
        assert_eq!(p.is_malicious(), sel & 0x80 != 0, "selector {sel:#04x}");
    }
}

/// Every client scenario's honest round completes (six scenarios, three
/// per model: each gives three seeds per state, and a malicious one four
/// more), and every server shape's honest round is seeded.
#[test]
fn client_and_server_seeds_cover_every_scenario() {
    assert_eq!(fuzzing::seeds("client").len(), 6 * 4 * 3 + 3 * 4);
    let shapes: std::collections::BTreeSet<u8> =
        fuzzing::seeds("server").iter().map(|s| s[0]).collect();
    assert_eq!(shapes.len(), 8);
}

/// Writes the built-in seeds into `fuzz/corpus/<target>/` (fuzz/run.sh runs
/// this before fuzzing a target whose corpus is empty).
#[test]
#[ignore = "writes into fuzz/corpus; run by fuzz/run.sh"]
fn write_seed_corpus() {
    for (target, _) in TARGETS {
        let dir = fuzz_dir().join("corpus").join(target);
        fs::create_dir_all(&dir).unwrap();
        for (i, seed) in fuzzing::seeds(target).iter().enumerate() {
            fs::write(dir.join(format!("seed-{i:02}")), seed).unwrap();
        }
    }
}

// ----- Regressions: one test per finding, named for it -----

/// An honest round of `params` in which `tamper(phase, from, bytes)` may
/// alter each client message before the server sees it.
fn tampered_round(
    params: &Params,
    mut tamper: impl FnMut(usize, ClientIndex, &mut Vec<u8>),
) -> Result<Aggregate, Error> {
    let mut r = rng(5);
    let n = params.clients();
    let mut server = Server::new(params, ROUND, &mut r).unwrap();
    let mut deliver = |server: &mut Server, phase: usize, from: ClientIndex, mut bytes: Vec<u8>| {
        tamper(phase, from, &mut bytes);
        let _ = server.receive(from, &bytes);
    };
    let next = |step: Result<Step, Error>| match step {
        Ok(Step::Deliver(d)) => Ok(d),
        Ok(other) => panic!("expected deliveries, got {other:?}"),
        Err(e) => Err(e),
    };
    let mut s0 = std::collections::BTreeMap::new();
    for i in 1..=n {
        let (st, msg) = AwaitingKeys::new(params, ROUND, i, &mut r).unwrap();
        deliver(&mut server, 0, i, msg);
        s0.insert(i, st);
    }
    let mut s1 = std::collections::BTreeMap::new();
    for (i, msg) in next(server.close_phase())? {
        if let Ok((st, out)) = s0.remove(&i).unwrap().receive(&msg, &mut r) {
            deliver(&mut server, 1, i, out);
            s1.insert(i, st);
        }
    }
    let mut s2 = std::collections::BTreeMap::new();
    for (i, msg) in next(server.close_phase())? {
        let input = vec![u64::from(i); params.dim() as usize];
        if let Ok((st, out)) = s1.remove(&i).unwrap().receive(&msg, &input) {
            deliver(&mut server, 2, i, out);
            s2.insert(i, st);
        }
    }
    for (i, msg) in next(server.close_phase())? {
        if let Ok(out) = s2.remove(&i).unwrap().receive(&msg) {
            deliver(&mut server, 3, i, out);
        }
    }
    match server.close_phase()? {
        Step::Done(agg) => Ok(agg),
        other => panic!("no result after the last phase: {other:?}"),
    }
}

/// Finding of the `server` target (fuzz/regressions/server/): a client whose
/// published commitment does not match the seed it shared leaves a self mask
/// that cannot be removed. In v1 the round ended with `NotEnoughSurvivors`
/// at Unmask naming nobody. In v2 the shares are checked against the
/// dealer's Feldman commitments on receipt: every holder refuses them and
/// complains, and the server ends the round at the close of MaskedInput
/// naming the dealer, never with a wrong sum.
#[test]
fn regression_wrong_seed_commitment_aborts_typed() {
    use secagg::protocol::messages::ShareKeys;
    use secagg::{Decode, Encode};

    let name = "wrong_seed_commitment_aborts_typed";
    let data = fs::read(fuzz_dir().join("regressions/server").join(name)).unwrap();
    run_one("server", name, &data);

    // The same through the public API: n = 5, t = 3, client 2 publishes its
    // seed polynomial's commitments in the wrong order (valid points, wrong
    // polynomial). Holder 1's share still passes (at x = 1 the swap cancels:
    // C_1 + C_0 = C_0 + C_1); holders 3, 4 and 5 complain, leaving 2 < t.
    let params = Params::new(5, 3, 32, 4, Graph::Complete).unwrap();
    let p = params.clone();
    let result = tampered_round(&params, move |phase, from, bytes| {
        if phase == 1 && from == 2 {
            let mut msg = ShareKeys::decode(&p, bytes).unwrap();
            msg.seed_commitments.swap(0, 1);
            *bytes = msg.to_bytes();
        }
    });
    assert_eq!(
        result.unwrap_err(),
        Error::Client {
            index: 2,
            fault: ClientFault::Undecryptable { reported_by: 3 },
            outcome: secagg::Outcome::Aborted,
        }
    );
    // Untampered, the same round finishes.
    let agg = tampered_round(&params, |_, _, _| {}).unwrap();
    assert_eq!(agg.sum, vec![1 + 2 + 3 + 4 + 5; 4]);
}

/// Finding of the `server` target (fuzz/regressions/server/): with exactly
/// t answers nothing is redundant, so one holder that adds 1 to its share
/// of an honest survivor's seed made the shares consistent with a wrong
/// seed, and the v1 server blamed the honest survivor. In v2 the seed rebuilt
/// from those shares fails the dealer's `C_0`, so its shares are checked
/// against the dealer's commitments: the liar is named `BadShare` (proven)
/// and its share discarded; with exactly t answers the round then
/// ends with `NotEnoughSurvivors` in Unmask, and the honest dealer is never
/// named.
#[test]
fn regression_honest_dealer_framed_by_one_holder() {
    use curve25519_dalek::Scalar;
    use secagg::protocol::messages::UnmaskResponse;
    use secagg::{Decode, Encode, Phase};

    let name = "honest_dealer_framed_by_one_holder";
    let data = fs::read(fuzz_dir().join("regressions/server").join(name)).unwrap();
    run_one("server", name, &data);

    // Client 1 shifts its share of client 2's seed.
    let frame = |params: &Params| {
        let params = params.clone();
        move |phase: usize, from: ClientIndex, bytes: &mut Vec<u8>| {
            if phase == 3 && from == 1 {
                let mut resp = UnmaskResponse::decode(&params, bytes).unwrap();
                let entry = resp.shares.iter_mut().find(|e| e.owner == 2).unwrap();
                entry.share += Scalar::ONE;
                *bytes = resp.to_bytes();
            }
        }
    };
    // n = t = 3: the lying share is discarded, two remain.
    let params = Params::new(3, 3, 32, 4, Graph::Complete).unwrap();
    assert_eq!(
        tampered_round(&params, frame(&params)).unwrap_err(),
        Error::NotEnoughSurvivors {
            phase: Phase::Unmask,
            survivors: 2,
            threshold: 3
        }
    );
    // With n = 5, t = 3 the liar is named and the sum is exact.
    let params = Params::new(5, 3, 32, 4, Graph::Complete).unwrap();
    let agg = tampered_round(&params, frame(&params)).unwrap();
    assert_eq!(agg.sum, vec![1 + 2 + 3 + 4 + 5; 4]);
    assert_eq!(
        agg.misbehaved,
        vec![(1, ClientFault::BadShare { owner: 2 })]
    );
}

/// A server state in Unmask whose share list was allocated at the
/// parameters' `k + 1` (n = 2^23 on the complete graph, a 300 MB
/// allocation) rather than at what the input justifies: it now decodes (or
/// not) without allocating more than its lists call for
/// (`src/protocol/state.rs::tests::share_lists_are_sized_by_the_input`).
#[test]
fn regression_share_list_capacity_from_params() {
    let name = "share_list_capacity_from_params";
    let data = fs::read(
        fuzz_dir()
            .join("regressions/decode_server_state")
            .join(name),
    )
    .unwrap();
    run_one("decode_server_state", name, &data);
}

/// A client-state plaintext of 387 bytes naming the complete graph on
/// 12,189,733 clients: decoding it builds that client's neighbour list,
/// O(n) by design (only the storage key's holder can present a plaintext),
/// which timed out the fuzzer. The fuzz entry points skip states naming more
/// than 4096 clients; this input is one of them.
#[test]
fn regression_timeout_complete_graph_max_clients() {
    let name = "timeout_complete_graph_max_clients";
    let data = fs::read(
        fuzz_dir()
            .join("regressions/decode_client_state")
            .join(name),
    )
    .unwrap();
    let len = u32::from_le_bytes(data[32..36].try_into().unwrap()) as usize;
    let params = secagg::Params::decode(&data[36..36 + len]).unwrap();
    assert_eq!(params.clients(), 12_189_733);
    assert_eq!(params.degree(), 12_189_732);
    run_one("decode_client_state", name, &data);
}
