//! SecAgg+ parameters: the neighbour count k and Shamir threshold t.
//!
//! (k, t) for the Harary graph H(k, n) follow from the roster size n, the
//! fraction of clients that may collude with the server, and the fraction
//! that may drop out (spec/params.md section 4).
//!
//! # Conventions
//!
//! k is the number of neighbours of each client, the client itself excluded;
//! it is even, and client `u` at ring slot p neighbours the slots p ± 1 ..
//! p ± k/2 (mod n). Each client Shamir-shares its two secrets among its k
//! neighbours and itself, k + 1 holders, with threshold t: any t shares
//! reconstruct, t − 1 reveal nothing.
//!
//! These are exactly the meanings of `degree` and `threshold` in the public
//! parameter finder this module reproduces (`ComputeHararyGraphParameters` in
//! google-parfait/federated-compute, `fcp/secagg/server/graph_parameter_finder.cc`,
//! with `distribution_utilities.cc`): it searches even "numbers of neighbours",
//! and its caller (`fcp/secagg/server/secagg_server.cc`) builds a
//! `SecretSharingHararyGraph` of degree `degree + 1`, "to account for a
//! self-edge", sharing each secret among those `degree + 1` holders with the
//! returned threshold. No conversion is needed. (Flower's `SecAggPlusWorkflow`
//! counts the same holders as `num_shares` = k + 1.)
//!
//! # The rule
//!
//! Statistical security σ = 40 is split evenly over two bad events, so each
//! must have probability below 2^−41; correctness (the round finishing) must
//! fail with probability below 2^−20. With γ the corrupt fraction and δ the
//! dropout fraction, let ε = 10^−14 (a guard against rounding
//! `0.05 * 100` to just below 5) and
//!
//! ```text
//! A = floor((γ + ε) n)        corrupt clients
//! D = floor((δ + ε) n)        dropped clients
//! S = ceil((1 − δ − ε) n)     surviving clients
//! B = A + D
//! X_k ~ Hypergeometric(population n, marked A, draws k)   corrupt neighbours
//! Z_k ~ Hypergeometric(population n, marked S, draws k)   surviving neighbours
//! ```
//!
//! For k = 2, 4, 6, ... while k ≤ n − 2, the first k that passes all three
//! checks is returned with its t:
//!
//! 1. Connectivity. Removing corrupt and dropped clients must not cut the
//!    ring: a cut needs k/2 consecutive removed clients at two places, and a
//!    union bound over the n (n − k − 1) / 2 pairs of places gives
//!    `P_cut = n (n − k − 1) / 2 · B! (n − k)! / (n! (B − k)!)`
//!    (zero when k > B). Required: `ln P_cut < −41 ln 2`.
//! 2. Privacy. `t1` is the least τ with `P[X_k > τ] < 2^−41 / n`; by a union
//!    bound over the n clients, no client has more than t1 corrupt
//!    neighbours except with probability 2^−41, and `t = t1 + 1` shares are
//!    more than the colluding neighbours hold.
//! 3. Correctness. `P[Z_k ≤ t1] < 2^−20 / n`: with probability 1 − 2^−20
//!    every client keeps at least t surviving neighbours, so the shares of
//!    every secret the server needs (self-mask seeds of survivors, mask keys of
//!    the dropped) are available. The client's own share is not counted, so
//!    this is conservative for survivors.
//!
//! The returned threshold is `max(t1 + 1, 2)`, as in the reference finder
//! (its Shamir code needs t ≥ 2); the correctness check is made for t1 + 1
//! (only γ = 0, where t1 = 0, can make the two differ).
//!
//! Inputs are admissible when n ≥ 2, both fractions lie in `[0, 1)`, and
//! γ + δ ≤ 0.9, the reference finder's feasibility bound. `None` means:
//! invalid input, or no sparse graph with k ≤ n − 2 meets the bounds; the
//! caller then uses the complete graph (k = n − 1).
//!
//! Like the reference, the model draws a client's k neighbours from all n
//! clients rather than from the n − 1 others. For the union bounds of checks
//! 2 and 3 this loses nothing: a uniformly random client's k neighbours,
//! under a random labelling, are a uniformly random k-subset of the n
//! clients (each k-subset T arises from the n − k owners outside it, with
//! probability `(n − k) / (n C(n − 1, k)) = 1 / C(n, k)`). So the sum over
//! all n clients of each one's own bad-event probability (a surviving owner
//! sees S − 1 survivors among n − 1 others, a dropped one S) is exactly
//! n times the model's: `S P[Z' ≤ τ] + (n − S) P[Z'' ≤ τ] = n P[Z_k ≤ τ]`,
//! and likewise for corrupt neighbours, where only the n − A honest owners'
//! terms count (unit test `union_bound_over_owners_is_exact`).
//!
//! # Security
//!
//! The rule is for a semi-honest server: it follows the protocol and only
//! pools what it sees with the corrupt clients. A server that tells some
//! neighbours of client u that u dropped (collecting mask-key shares) and
//! others that u survived (collecting self-mask shares) gets both secrets of
//! u once `2(t − c) − 1 ≤ k − c`, with c the corrupt neighbours of u (the
//! `− 1`: u itself hands over its own self-mask share). With the (k, t) from
//! [`derive()`] that is likely (n = 1000, 5 % corrupt: k = 30, t = 17, broken
//! when c ≥ 3, about one client in five). Against such a server the
//! reference finder's `SEMI_MALICIOUS_SERVER` class replaces t1 with
//! `floor((t1 + k) / 2)` and requires γ + 2δ ≤ 0.9; [`derive_malicious()`]
//! reproduces it. That bound counts k holders, not k + 1: it guarantees
//! `2t ≥ t1 + k + 1`, whereas the attack above needs `2t ≥ t1 + k + 2` to
//! fail, so when t1 + k is odd it is one short on its own. It is enough with
//! a consistency round whose signatures come from the owner's k neighbours
//! (spec/params.md section 4.7): then `2t − k > c` is what counts, with c
//! the corrupt-neighbour bound of [`corrupt_bound()`].
//!
//! The reference finder caps n at 10^6 for want of tests; nothing in the
//! rule depends on it and this module takes any `u32` n.
//!
//! # Numerics
//!
//! Hypergeometric probabilities are computed in log space with Loader's
//! saddle-point form (C. Loader, "Fast and Accurate Computation of Binomial
//! Probabilities", 2000): `P[X = x] = b(x; A, p) b(k − x; n − A, p) / b(k; n,
//! p)` with `p = k / n` and each binomial term `b` written through the
//! Stirling-series remainder and the deviance `x ln(x / np) + np − x`, so
//! nothing overflows or cancels catastrophically for n up to 2^32. Tails are
//! summed outward from the term nearest the mode with the ratio recurrence,
//! stopping once the terms no longer matter; the union-bound product of check
//! 1 is a running sum of `ln((B − i) / (n − i))` kept as k grows, and t1 at k
//! is searched among t1(k − 2) ..= t1(k − 2) + 2 (two more draws add at most
//! two corrupt neighbours). Work per candidate k is a few tail sums, memory
//! O(1). The reference finder uses `lgamma` differences instead; the two
//! agree on every (k, t) of its test table and of a wide grid
//! (spec/params.md section 4.4).
//!
//! # References
//!
//! - J. Bell, K. Bonawitz, A. Gascón, T. Lepoint, M. Raykova, "Secure
//!   Single-Server Aggregation with (Poly)Logarithmic Overhead", CCS 2020:
//!   sparse neighbour graphs with threshold sharing among neighbours, and
//!   the semi-honest and semi-malicious models this rule instantiates.
//! - K. Bonawitz et al., "Practical Secure Aggregation for
//!   Privacy-Preserving Machine Learning", CCS 2017: the complete-graph
//!   protocol used when this module returns `None`.
//! - google-parfait/federated-compute, `fcp/secagg/server/graph_parameter_finder.cc`
//!   and `distribution_utilities.cc` (the rule above, its constants 41, 20,
//!   10^−14 and 0.9) and `graph_parameter_finder_test.cc` (its table, checked
//!   in this module's tests).

use core::f64::consts::LN_2;

/// Bits of security per bad event: σ = 40 split evenly over two events.
const SECURITY_BITS_PER_EVENT: f64 = 41.0;
/// 2^−41, exactly: the bound on each of the two bad events.
const PER_EVENT_FAILURE: f64 = 1.0 / 2_199_023_255_552.0;
/// 2^−20, exactly: the bound on the round failing to finish.
const CORRECTNESS_FAILURE: f64 = 1.0 / 1_048_576.0;
/// Added to fractions before rounding counts, so `0.05 * 100` rounds to 5.
const ROUNDING_GUARD: f64 = 1e-14;
/// The largest admissible corrupt-plus-dropout load (see module docs).
const MAX_LOAD: f64 = 0.9;

/// Which server the threshold must withstand.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Adversary {
    /// Follows the protocol, colludes with corrupt clients.
    SemiHonest,
    /// May also lie about who dropped out, differently to different clients
    /// (the reference's `SEMI_MALICIOUS_SERVER`; see the module docs).
    SemiMalicious,
}

/// The semi-malicious threshold cutoff from the privacy cutoff `t1` at
/// degree `k`: the reference writes `ceil((t1 + k − 1.25) / 2)`, which for
/// integers is `floor((t1 + k) / 2)` (the `− 1.25` only steers the rounding:
/// `(2j − 1.25) / 2` and `(2j + 1 − 1.25) / 2` both round up to j). Computed
/// without overflow for any u32 inputs.
const fn malicious_cutoff(t1: u32, k: u32) -> u32 {
    t1 / 2 + k / 2 + (t1 % 2) * (k % 2)
}

/// (k, t) for SecAgg+ against a semi-honest server colluding with up to a
/// `corrupt_fraction` of the n clients, with up to a `dropout_fraction` of
/// them dropping out: security 2^−40, correctness 2^−20.
///
/// k is the number of neighbours of each client excluding itself (even,
/// `2 <= k <= n - 2`); t is the Shamir threshold over the k + 1 holders of
/// each secret (the k neighbours and the client itself), `2 <= t <= k + 1`.
/// The smallest admissible k is returned, with the smallest t that is secure
/// for it. Implements spec/params.md section 4.2 and reproduces
/// `ComputeHararyGraphParameters` (federated-compute, `CURIOUS_SERVER`).
///
/// Returns `None` for invalid input (n < 2, a fraction NaN or outside
/// `[0, 1)`, `corrupt_fraction + dropout_fraction > 0.9`) and when no
/// sparse graph meets the bounds; the caller then uses the complete graph.
///
/// # Security
///
/// Only against a semi-honest server. A server that lies about who dropped
/// out needs a larger t (module docs, "Security").
///
/// ```
/// # use secagg::params::secagg_plus::derive;
/// assert_eq!(derive(1_000, 0.05, 0.05), Some((30, 17)));
/// assert_eq!(derive(1_000_000, 0.05, 0.05), Some((38, 22)));
/// assert_eq!(derive(1_000, 0.5, 0.5), None);
/// ```
#[must_use]
pub fn derive(n: u32, corrupt_fraction: f64, dropout_fraction: f64) -> Option<(u32, u32)> {
    search(n, corrupt_fraction, dropout_fraction, Adversary::SemiHonest)
}

/// (k, t) for SecAgg+ against a server that may also lie about who dropped
/// out (the reference finder's `SEMI_MALICIOUS_SERVER` class), colluding
/// with up to a `corrupt_fraction` of the n clients, with up to a
/// `dropout_fraction` of them dropping out: security 2^−40, correctness
/// 2^−20.
///
/// The search of [`derive()`] with two changes (spec/params.md section
/// 4.7): inputs are admissible only when
/// `corrupt_fraction + 2 * dropout_fraction <= 0.9`, and before the
/// correctness check the privacy cutoff t1 (the corrupt-neighbour bound c of
/// [`corrupt_bound()`]) becomes `ceil((t1 + k − 1.25) / 2) =
/// floor((t1 + k) / 2)`, so the returned threshold is
/// `t = floor((c + k) / 2) + 1`. Then `2t − k > c`: two sets each certified
/// by t of the k neighbours share an honest one. k and t mean what they mean
/// in [`derive()`].
///
/// Returns `None` for invalid input and when no sparse graph meets the
/// bounds; the caller then uses the complete graph with
/// [`complete_threshold_malicious()`].
///
/// ```
/// # use secagg::params::secagg_plus::derive_malicious;
/// assert_eq!(derive_malicious(100, 0.05, 0.05), Some((16, 11)));
/// assert_eq!(derive_malicious(1_000, 0.05, 0.05), Some((52, 37)));
/// assert_eq!(derive_malicious(10_000, 0.05, 0.05), Some((62, 44)));
/// assert_eq!(derive_malicious(1_000, 0.33, 0.33), None);
/// ```
#[must_use]
pub fn derive_malicious(
    clients: u32,
    corrupt_fraction: f64,
    dropout_fraction: f64,
) -> Option<(u32, u32)> {
    search(
        clients,
        corrupt_fraction,
        dropout_fraction,
        Adversary::SemiMalicious,
    )
}

/// c, the number of corrupt clients the derivation allows among the
/// `degree` neighbours of any one client (the client itself not counted).
///
/// For a sparse graph (`degree <= clients − 2`) this is the privacy cutoff
/// t1 of spec/params.md section 4.2.3, check 2: the least τ with
/// `P[X > τ] < 2^−41 / n`, X the corrupt neighbours of one client
/// (hypergeometric: `degree` draws from n clients of which
/// `A = floor((γ + 10^−14) n)` are corrupt). By a union bound over the n
/// clients, **no client has more than c corrupt neighbours, except with
/// probability 2^−41** over the random labelling of the graph; the
/// derivation's security holds on that event. [`derive()`] returns
/// `t = c + 1` (at least 2) and [`derive_malicious()`]
/// `t = floor((c + k) / 2) + 1`, for `k = degree` and this c.
///
/// For the complete graph (`degree >= clients − 1`) every corrupt client is
/// a neighbour and c is A itself, with certainty; use
/// [`complete_threshold_malicious()`] with it.
///
/// A protocol checks uniqueness of the survivor set with this c: `2t − k > c`
/// in a neighbourhood of k (Harary), `2t > n + c` on the complete graph.
///
/// Returns `None` when `clients < 2`, `degree == 0`, or `corrupt_fraction`
/// is NaN or outside `[0, 1)`.
///
/// ```
/// # use secagg::params::secagg_plus::{corrupt_bound, derive, derive_malicious};
/// let (k, t) = derive(1_000, 0.05, 0.05).unwrap();
/// assert_eq!(corrupt_bound(1_000, k, 0.05), Some(t - 1));
/// let (k, t) = derive_malicious(1_000, 0.05, 0.05).unwrap();
/// let c = corrupt_bound(1_000, k, 0.05).unwrap();
/// assert!(2 * t - k > c);
/// assert_eq!(corrupt_bound(1_000, 999, 0.05), Some(50));
/// ```
#[must_use]
pub fn corrupt_bound(clients: u32, degree: u32, corrupt_fraction: f64) -> Option<u32> {
    if clients < 2 || degree == 0 || !(0.0..1.0).contains(&corrupt_fraction) {
        return None;
    }
    let (corrupt, _) = counts(clients, corrupt_fraction, 0.0);
    if degree >= clients - 1 {
        return Some(corrupt);
    }
    let nf = f64::from(clients);
    let corrupt_neighbours = Hypergeometric::new(nf, f64::from(corrupt), f64::from(degree));
    Some(least_secure_cutoff(
        &corrupt_neighbours,
        degree,
        None,
        PER_EVENT_FAILURE / nf,
    ))
}

/// The complete-graph threshold against a server that lies about dropouts:
/// the smallest t with `t > ceil((n + c) / 2)`, where n = `clients` and
/// c = `corrupt` (the corrupt count A of spec/params.md section 4.2.2, as
/// [`corrupt_bound()`] gives for the complete graph), and at least 2;
/// `None` when the `survivors` cannot reach it: the consistency close
/// needs t signers among each client's neighbours, the client itself not
/// counted (spec/protocol.md section 5.2), so S survivors give each of
/// them only S − 1, and t must be below S (hence below n).
///
/// Such a t has `2t > n + c`: two sets each certified by t of the n clients
/// overlap in at least `2t − n > c` clients, so an honest one certified
/// both (spec/params.md section 4.7). When n + c is odd it is one more
/// than the least t with `2t > n + c`.
///
/// ```
/// # use secagg::params::secagg_plus::complete_threshold_malicious;
/// assert_eq!(complete_threshold_malicious(100, 5, 95), Some(54));
/// assert_eq!(complete_threshold_malicious(100, 6, 95), Some(54));
/// assert_eq!(complete_threshold_malicious(100, 10, 56), None);
/// assert_eq!(complete_threshold_malicious(3, 0, 3), None);
/// ```
#[must_use]
pub fn complete_threshold_malicious(clients: u32, corrupt: u32, survivors: u32) -> Option<u32> {
    let (n, c) = (u64::from(clients), u64::from(corrupt));
    // ceil((n + c) / 2) + 1, in u64: no overflow for any u32 inputs.
    let t = (n + c).div_ceil(2) + 1;
    let t = u32::try_from(t.max(2)).ok()?;
    (t < survivors && t < clients).then_some(t)
}

/// The search of spec/params.md section 4.2: the first even k that
/// passes the three checks, with its threshold.
/// The corrupt count A and the survivor count S of spec/params.md section
/// 4.2.2, as integers (fractions assumed in `[0, 1)`).
pub(crate) fn counts(n: u32, corrupt: f64, dropout: f64) -> (u32, u32) {
    let nf = f64::from(n);
    let (a, s) = raw_counts(nf, corrupt, dropout);
    // Both are integers in 0..=n, so the conversions are exact.
    let to_u32 = |x: f64| {
        if x <= 0.0 {
            0
        } else if x >= nf {
            n
        } else {
            x as u32
        }
    };
    (to_u32(a), to_u32(s))
}

/// (A, S) in binary64, evaluated exactly as the spec writes them.
fn raw_counts(nf: f64, corrupt: f64, dropout: f64) -> (f64, f64) {
    (
        ((corrupt + ROUNDING_GUARD) * nf).floor(),
        ((1.0 - dropout - ROUNDING_GUARD) * nf).ceil(),
    )
}

fn search(n: u32, corrupt: f64, dropout: f64, adversary: Adversary) -> Option<(u32, u32)> {
    let fraction_ok = |f: f64| (0.0..1.0).contains(&f);
    if n < 2 || !fraction_ok(corrupt) || !fraction_ok(dropout) {
        return None;
    }
    let load = match adversary {
        Adversary::SemiHonest => corrupt + dropout,
        Adversary::SemiMalicious => corrupt + 2.0 * dropout,
    };
    if load > MAX_LOAD {
        return None;
    }

    // Counts are integers in 0..=n, exact in f64 (n < 2^32 < 2^53).
    let nf = f64::from(n);
    let (corrupt_count, survivor_count) = raw_counts(nf, corrupt, dropout);
    let dropout_count = ((dropout + ROUNDING_GUARD) * nf).floor();
    let removed = corrupt_count + dropout_count;

    let log_cut_bound = -SECURITY_BITS_PER_EVENT * LN_2;
    let log_n = nf.ln();
    let privacy_tail = PER_EVENT_FAILURE / nf;
    let correctness_tail = CORRECTNESS_FAILURE / nf;

    // ln(B! (n - k)! / (n! (B - k)!)) = sum_{i < k} ln((B - i) / (n - i)),
    // extended by two factors per step of k; -inf once k > B.
    let mut log_falling_ratio = 0.0_f64;
    // t1 at the previous k, which brackets t1 at this one (see below).
    let mut previous_t1: Option<u32> = None;
    let mut k: u32 = 0;
    loop {
        for i in [k, k + 1] {
            let i = f64::from(i);
            log_falling_ratio += if i < removed {
                ((removed - i) / (nf - i)).ln()
            } else {
                f64::NEG_INFINITY
            };
        }
        k += 2;
        // k <= n - 2 (the finder's `k < n - 1`); n - 2 cannot underflow.
        if k > n - 2 {
            return None;
        }
        let kf = f64::from(k);

        // Check 2 (first half): the cutoff t1 for the corrupt neighbours. It
        // is computed for every k so that the previous one can seed the next.
        let corrupt_neighbours = Hypergeometric::new(nf, corrupt_count, kf);
        let mut t1 = least_secure_cutoff(&corrupt_neighbours, k, previous_t1, privacy_tail);
        previous_t1 = Some(t1);

        // Check 1: the ring survives the removals (union bound over gap pairs).
        let log_cut = log_n + (nf - kf - 1.0).ln() - LN_2 + log_falling_ratio;
        if log_cut >= log_cut_bound {
            continue;
        }

        // Check 2 (second half): the threshold the server must face.
        if adversary == Adversary::SemiMalicious {
            t1 = malicious_cutoff(t1, k);
        }

        // Check 3: enough neighbours survive to reach the threshold.
        let surviving_neighbours = Hypergeometric::new(nf, survivor_count, kf);
        if surviving_neighbours.sum_between(0.0, f64::from(t1)) < correctness_tail {
            return Some((k, t1.saturating_add(1).max(2)));
        }
    }
}

/// The least τ in `0..=k` with `P[X > τ] < bound`, where X takes values in
/// `0..=k`, so τ = k always qualifies.
///
/// `previous` is the answer for `k − 2` draws, if known. Drawing two more
/// items adds at most two marked ones, so the answer is then one of
/// `previous ..= previous + 2`; otherwise (or should rounding ever break
/// that bracket) a binary search, valid because the tail shrinks with τ.
fn least_secure_cutoff(x: &Hypergeometric, k: u32, previous: Option<u32>, bound: f64) -> u32 {
    let secure = |tau: u32| x.sum_between(f64::from(tau) + 1.0, x.draws) < bound;
    let mut lo = 0u32;
    if let Some(previous) = previous {
        for tau in previous..=previous.saturating_add(2).min(k) {
            if secure(tau) {
                return tau;
            }
        }
        lo = previous.saturating_add(3).min(k);
    }
    let mut hi = k;
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if secure(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// The number of marked items among `draws` drawn without replacement from
/// `population` items of which `marked` are marked. All fields are
/// integer-valued, `marked <= population`, `draws <= population`.
#[derive(Clone, Copy, Debug)]
struct Hypergeometric {
    population: f64,
    marked: f64,
    draws: f64,
    /// Least value with positive probability.
    low: f64,
    /// Greatest value with positive probability.
    high: f64,
    /// A most likely value (within one of it: only the start of the walks).
    mode: f64,
}

/// Terms below this fraction of the running sum end a tail walk. The pmf is
/// log-concave, so the terms left decay at least geometrically and their sum
/// is negligible next to the f64 precision of the result.
const NEGLIGIBLE: f64 = 1e-20;

impl Hypergeometric {
    fn new(population: f64, marked: f64, draws: f64) -> Self {
        let low = (draws - (population - marked)).max(0.0);
        let high = draws.min(marked);
        let mode = ((draws + 1.0) * (marked + 1.0) / (population + 2.0))
            .floor()
            .clamp(low, high);
        Self {
            population,
            marked,
            draws,
            low,
            high,
            mode,
        }
    }

    /// ln P[X = x] for x in `low..=high` (Loader's form, see module docs).
    fn ln_pmf(&self, x: f64) -> f64 {
        let p = self.draws / self.population;
        let q = (self.population - self.draws) / self.population;
        ln_binomial_term(x, self.marked, p, q)
            + ln_binomial_term(self.draws - x, self.population - self.marked, p, q)
            - ln_binomial_term(self.draws, self.population, p, q)
    }

    /// P[X = x + 1] / P[X = x], for `low <= x < high`.
    fn ratio_up(&self, x: f64) -> f64 {
        (self.marked - x) * (self.draws - x)
            / ((x + 1.0) * (self.population - self.marked - self.draws + x + 1.0))
    }

    /// P[from <= X <= to] (integer-valued bounds, either side may be outside
    /// the support). Summed outward from the term nearest the mode, which is
    /// the largest in the range, so a tiny or underflowing start means the
    /// whole sum is negligible.
    fn sum_between(&self, from: f64, to: f64) -> f64 {
        let (from, to) = (from.max(self.low), to.min(self.high));
        if from > to {
            return 0.0;
        }
        let start = self.mode.clamp(from, to);
        let first = self.ln_pmf(start).exp();
        if first == 0.0 {
            return 0.0;
        }
        let mut sum = first;

        let (mut x, mut term) = (start, first);
        while x < to {
            term *= self.ratio_up(x);
            x += 1.0;
            sum += term;
            if term <= sum * NEGLIGIBLE {
                break;
            }
        }
        let (mut x, mut term) = (start, first);
        while x > from {
            term /= self.ratio_up(x - 1.0);
            x -= 1.0;
            sum += term;
            if term <= sum * NEGLIGIBLE {
                break;
            }
        }
        sum.min(1.0)
    }
}

/// ln of the binomial probability `C(m, x) p^x q^(m - x)` with `q = 1 - p`
/// (both given, to keep their precision), for integer-valued `0 <= x <= m`.
/// Loader's saddle-point form: no term is larger than the result needs.
fn ln_binomial_term(x: f64, m: f64, p: f64, q: f64) -> f64 {
    if p == 0.0 {
        return if x == 0.0 { 0.0 } else { f64::NEG_INFINITY };
    }
    if q == 0.0 {
        return if x == m { 0.0 } else { f64::NEG_INFINITY };
    }
    if x == 0.0 {
        if m == 0.0 {
            return 0.0;
        }
        return if p < 0.1 {
            -deviance(m, m * q) - m * p
        } else {
            m * q.ln()
        };
    }
    if x == m {
        return if q < 0.1 {
            -deviance(m, m * p) - m * q
        } else {
            m * p.ln()
        };
    }
    if x < 0.0 || x > m {
        return f64::NEG_INFINITY;
    }
    let lc = stirling_remainder(m)
        - stirling_remainder(x)
        - stirling_remainder(m - x)
        - deviance(x, m * p)
        - deviance(m - x, m * q);
    let lf = LN_2PI + x.ln() + (-x / m).ln_1p();
    lc - 0.5 * lf
}

/// ln(2π).
const LN_2PI: f64 = 1.837_877_066_409_345_6;

/// `ln(m!) − ln(sqrt(2π m) (m / e)^m)` for integer-valued m ≥ 1.
fn stirling_remainder(m: f64) -> f64 {
    /// Exact values for m = 1..=15, where the series is not yet accurate.
    const SMALL: [f64; 15] = [
        0.081_061_466_795_327_26,
        0.041_340_695_955_409_3,
        0.027_677_925_684_998_34,
        0.020_790_672_103_765_093,
        0.016_644_691_189_821_193,
        0.013_876_128_823_070_748,
        0.011_896_709_945_891_77,
        0.010_411_265_261_972_096,
        0.009_255_462_182_712_733,
        0.008_330_563_433_362_87,
        0.007_573_675_487_951_841,
        0.006_942_840_107_209_53,
        0.006_408_994_188_004_207,
        0.005_951_370_112_758_847_5,
        0.005_554_733_551_962_801,
    ];
    let mut index = 0usize;
    let mut v = 1.0;
    while index < SMALL.len() {
        if m == v {
            return SMALL[index];
        }
        index += 1;
        v += 1.0;
    }
    // Stirling's series: sum_j B_2j / (2j (2j - 1) m^(2j - 1)); for m >= 16
    // the first omitted term is below 1e-19.
    let inv = 1.0 / m;
    let inv2 = inv * inv;
    inv * (1.0 / 12.0
        - inv2
            * (1.0 / 360.0
                - inv2
                    * (1.0 / 1260.0
                        - inv2
                            * (1.0 / 1680.0 - inv2 * (1.0 / 1188.0 - inv2 * (691.0 / 360_360.0))))))
}

/// The deviance `x ln(x / mu) + mu − x` (≥ 0), accurate when x is close to
/// mu (a series in `(x − mu) / (x + mu)`), for x ≥ 0 and mu > 0.
fn deviance(x: f64, mu: f64) -> f64 {
    if x == 0.0 {
        return mu;
    }
    if (x - mu).abs() < 0.1 * (x + mu) {
        let v = (x - mu) / (x + mu);
        let v2 = v * v;
        let mut sum = (x - mu) * v;
        let mut power = 2.0 * x * v;
        let mut odd = 1.0;
        // |v| < 0.1: each term is 100 times smaller; 40 terms is far past
        // the point where they stop changing the sum.
        for _ in 0..40 {
            power *= v2;
            odd += 2.0;
            let next = sum + power / odd;
            if next == sum {
                break;
            }
            sum = next;
        }
        return sum;
    }
    x * (x / mu).ln() + mu - x
}

#[cfg(test)]
mod tests {
    use super::*;

    use chacha20::ChaCha20Rng;
    use rand_core::{Rng, SeedableRng};

    #[test]
    fn reference_points_semi_honest_5_5() {
        assert_eq!(derive(100, 0.05, 0.05), Some((12, 6)));
        assert_eq!(derive(1_000, 0.05, 0.05), Some((30, 17)));
        assert_eq!(derive(10_000, 0.05, 0.05), Some((34, 20)));
        assert_eq!(derive(1_000_000, 0.05, 0.05), Some((38, 22)));
    }

    /// The table of `graph_parameter_finder_test.cc` (federated-compute):
    /// (n, corrupt, dropout, semi-malicious, degree, threshold). The finder's
    /// test asserts the degree exactly and the threshold as an upper bound;
    /// the thresholds here are the finder's own outputs, which meet it.
    /// Of the malicious (k, t) on the grid of
    /// `malicious_thresholds_certify_a_unique_survivor_set`: how many also
    /// meet 2t − (k + 1) > c (those with c + k even), and how many there are.
    const STRICT_ON_GRID: usize = 148;
    const TOTAL_ON_GRID: usize = 286;
    /// c = corrupt_bound(n, k, 0.05) at the malicious 5 % / 5 % (k, t).
    const C_100: u32 = 5;
    const C_1000: u32 = 20;
    const C_10000: u32 = 24;

    const FINDER_TABLE: &[(u32, f64, f64, bool, u32, u32)] = &[
        (100, 0.45, 0.45, false, 92, 46),
        (1_000, 0.45, 0.45, false, 822, 417),
        (10_000, 0.45, 0.45, false, 3494, 1771),
        (100_000, 0.45, 0.45, false, 5508, 2788),
        (1_000_000, 0.45, 0.45, false, 6240, 3156),
        (10, 0.33, 0.33, false, 8, 4),
        (100, 0.33, 0.33, false, 68, 34),
        (1_000, 0.33, 0.33, false, 286, 150),
        (10_000, 0.33, 0.33, false, 422, 221),
        (100_000, 0.33, 0.33, false, 480, 251),
        (1_000_000, 0.33, 0.33, false, 518, 270),
        (100, 0.3, 0.3, true, 92, 62),
        (1_000, 0.3, 0.3, true, 872, 584),
        (10_000, 0.3, 0.3, true, 4822, 3230),
        (100_000, 0.3, 0.3, true, 9388, 6286),
        (1_000_000, 0.3, 0.3, true, 11136, 7454),
        (10, 0.05, 0.33, false, 4, 2),
        (100, 0.05, 0.33, false, 28, 6),
        (1_000, 0.05, 0.33, false, 72, 24),
        (10_000, 0.05, 0.33, false, 86, 29),
        (100_000, 0.05, 0.33, false, 96, 32),
        (1_000_000, 0.05, 0.33, false, 102, 34),
        (10, 0.05, 0.33, true, 8, 5),
        (100, 0.05, 0.33, true, 72, 39),
        (1_000, 0.05, 0.33, true, 398, 223),
        (10_000, 0.05, 0.33, true, 746, 420),
        (100_000, 0.05, 0.33, true, 882, 496),
        (1_000_000, 0.05, 0.33, true, 970, 545),
        (10, 0.33, 0.05, false, 4, 4),
        (100, 0.33, 0.05, false, 34, 29),
        (1_000, 0.33, 0.05, false, 78, 60),
        (10_000, 0.33, 0.05, false, 92, 70),
        (100_000, 0.33, 0.05, false, 102, 77),
        (1_000_000, 0.33, 0.05, false, 110, 83),
        (10, 0.33, 0.05, true, 4, 4),
        (100, 0.33, 0.05, true, 42, 37),
        (1_000, 0.33, 0.05, true, 132, 109),
        (10_000, 0.33, 0.05, true, 178, 146),
        (100_000, 0.33, 0.05, true, 196, 160),
        (1_000_000, 0.33, 0.05, true, 212, 173),
        (10, 0.05, 0.05, false, 2, 2),
        (100, 0.05, 0.05, false, 12, 6),
        (1_000, 0.05, 0.05, false, 30, 17),
        (10_000, 0.05, 0.05, false, 34, 20),
        (100_000, 0.05, 0.05, false, 36, 21),
        (1_000_000, 0.05, 0.05, false, 38, 22),
        (10, 0.05, 0.05, true, 2, 2),
        (100, 0.05, 0.05, true, 16, 11),
        (1_000, 0.05, 0.05, true, 52, 37),
        (10_000, 0.05, 0.05, true, 62, 44),
        (100_000, 0.05, 0.05, true, 68, 48),
        (1_000_000, 0.05, 0.05, true, 74, 52),
        (10, 0.33, 0.0, false, 4, 4),
        (100, 0.33, 0.0, false, 26, 25),
        (1_000, 0.33, 0.0, false, 38, 36),
        (10_000, 0.33, 0.0, false, 42, 40),
        (100_000, 0.33, 0.0, false, 46, 44),
        (1_000_000, 0.33, 0.0, false, 50, 47),
        (10, 0.33, 0.0, true, 4, 4),
        (100, 0.33, 0.0, true, 26, 26),
        (1_000, 0.33, 0.0, true, 38, 37),
        (10_000, 0.33, 0.0, true, 42, 41),
        (100_000, 0.33, 0.0, true, 46, 45),
        (1_000_000, 0.33, 0.0, true, 50, 49),
        (10, 0.0, 0.33, false, 4, 2),
        (100, 0.0, 0.33, false, 26, 2),
        (1_000, 0.0, 0.33, false, 38, 2),
        (10_000, 0.0, 0.33, false, 42, 2),
        (100_000, 0.0, 0.33, false, 46, 2),
        (1_000_000, 0.0, 0.33, false, 50, 2),
        (10, 0.0, 0.33, true, 8, 5),
        (100, 0.0, 0.33, true, 68, 35),
        (1_000, 0.0, 0.33, true, 228, 115),
        (10_000, 0.0, 0.33, true, 326, 164),
        (100_000, 0.0, 0.33, true, 372, 187),
        (1_000_000, 0.0, 0.33, true, 410, 206),
        (10, 0.0, 0.0, false, 2, 2),
        (1_000_000, 0.0, 0.0, false, 2, 2),
        (1_000_000, 0.0, 0.0, true, 2, 2),
    ];

    #[test]
    fn finder_table() {
        for &(n, c, d, semi_malicious, k, t) in FINDER_TABLE {
            let got = if semi_malicious {
                derive_malicious(n, c, d)
            } else {
                derive(n, c, d)
            };
            assert_eq!(got, Some((k, t)), "n={n} c={c} d={d} sm={semi_malicious}");
        }
    }

    #[test]
    fn reference_points_malicious_5_5() {
        assert_eq!(derive_malicious(100, 0.05, 0.05), Some((16, 11)));
        assert_eq!(derive_malicious(1_000, 0.05, 0.05), Some((52, 37)));
        assert_eq!(derive_malicious(10_000, 0.05, 0.05), Some((62, 44)));
        // Further rows of the same class (spec/params.md section 4.6 table).
        assert_eq!(derive_malicious(100_000, 0.05, 0.05), Some((68, 48)));
        assert_eq!(derive_malicious(1_000_000, 0.05, 0.05), Some((74, 52)));
        assert_eq!(derive_malicious(100, 0.1, 0.1), Some((32, 22)));
        assert_eq!(derive_malicious(1_000, 0.1, 0.1), Some((96, 67)));
        assert_eq!(derive_malicious(1_000, 0.05, 0.2), Some((148, 90)));
    }

    #[test]
    fn malicious_cutoff_is_the_reference_formula() {
        // ceil((t1 + k - 1.25) / 2) as the reference evaluates it, in f64.
        for k in 0..300u32 {
            for t1 in 0..=k {
                let reference = ((f64::from(t1) + f64::from(k) - 1.25) / 2.0).ceil();
                let reference = if reference < 0.0 { 0.0 } else { reference };
                assert_eq!(f64::from(malicious_cutoff(t1, k)), reference, "{t1} {k}");
            }
        }
        assert_eq!(malicious_cutoff(u32::MAX, u32::MAX), u32::MAX);
        assert_eq!(malicious_cutoff(u32::MAX, u32::MAX - 1), u32::MAX - 1);
    }

    /// Every (k, t) of both classes on a grid, with c = corrupt_bound(n, k, γ):
    /// the thresholds are c + 1 (semi-honest) and floor((c + k) / 2) + 1
    /// (malicious), and the malicious ones meet 2t − k > c. Returns how many
    /// malicious results also meet 2t − (k + 1) > c (the owner counted among
    /// the signers), and how many there were.
    fn check_uniqueness(ns: &[u32], fractions: &[f64]) -> (usize, usize) {
        let (mut strict, mut total) = (0, 0);
        for &n in ns {
            for &g in fractions {
                for &d in fractions {
                    if let Some((k, t)) = derive(n, g, d) {
                        let c = corrupt_bound(n, k, g).expect("valid");
                        assert_eq!(t, (c + 1).max(2), "n={n} g={g} d={d}");
                    }
                    let Some((k, t)) = derive_malicious(n, g, d) else {
                        continue;
                    };
                    let c = corrupt_bound(n, k, g).expect("valid");
                    assert_eq!(t, ((c + k) / 2 + 1).max(2), "n={n} g={g} d={d}");
                    assert!(2 * t - k > c, "n={n} g={g} d={d} k={k} t={t} c={c}");
                    total += 1;
                    strict += usize::from(2 * t - (k + 1) > c);
                }
            }
        }
        (strict, total)
    }

    #[test]
    fn malicious_thresholds_certify_a_unique_survivor_set() {
        let fractions = [0.0, 0.01, 0.05, 0.1, 0.2, 0.3];
        let (strict, total) = check_uniqueness(
            &[10, 50, 100, 300, 1_000, 10_000, 100_000, 1_000_000],
            &fractions,
        );
        // Counting the owner as a possible signer (k + 1) the reference's
        // class is one short whenever c + k is odd: a fixed, documented
        // share of the grid (spec/params.md section 4.7).
        assert_eq!((strict, total), (STRICT_ON_GRID, TOTAL_ON_GRID));
        // The table rows with their c: 2t − k = c + 1 at n = 100 (c + k
        // odd), c + 2 at n = 1,000 and 10,000.
        for (n, k, t, c) in [
            (100, 16, 11, C_100),
            (1_000, 52, 37, C_1000),
            (10_000, 62, 44, C_10000),
        ] {
            assert_eq!(derive_malicious(n, 0.05, 0.05), Some((k, t)));
            assert_eq!(corrupt_bound(n, k, 0.05), Some(c));
            assert!(2 * t - k > c);
        }
    }

    #[test]
    fn corrupt_bound_edges() {
        assert_eq!(corrupt_bound(0, 2, 0.05), None);
        assert_eq!(corrupt_bound(1, 2, 0.05), None);
        assert_eq!(corrupt_bound(100, 0, 0.05), None);
        for f in [f64::NAN, -0.01, 1.0, f64::INFINITY] {
            assert_eq!(corrupt_bound(100, 10, f), None);
        }
        // Complete graph: every corrupt client is a neighbour.
        assert_eq!(corrupt_bound(100, 99, 0.05), Some(5));
        assert_eq!(corrupt_bound(100, 500, 0.33), Some(33));
        // No corrupt clients: none among the neighbours.
        assert_eq!(corrupt_bound(1_000, 30, 0.0), Some(0));
        // Between 0 and min(A, k), and non-decreasing in k.
        for n in [20u32, 100, 1_000, 1_000_000] {
            for g in [0.01, 0.05, 0.3, 0.6] {
                let (a, _) = counts(n, g, 0.0);
                let mut last = 0;
                for k in (2..n.min(400)).step_by(2) {
                    let c = corrupt_bound(n, k, g).expect("valid");
                    assert!(c <= a.min(k) && c >= last, "n={n} g={g} k={k}");
                    last = c;
                }
            }
        }
        assert!(corrupt_bound(u32::MAX, 60, 0.05).is_some());
    }

    #[test]
    fn complete_threshold_malicious_rule() {
        // t = ceil((n + c) / 2) + 1.
        assert_eq!(complete_threshold_malicious(100, 5, 95), Some(54));
        assert_eq!(complete_threshold_malicious(100, 6, 95), Some(54));
        assert_eq!(complete_threshold_malicious(100, 0, 100), Some(51));
        // t must be below S: each of S survivors has S - 1 signers.
        assert_eq!(complete_threshold_malicious(100, 10, 57), Some(56));
        assert_eq!(complete_threshold_malicious(100, 10, 56), None);
        assert_eq!(complete_threshold_malicious(100, 10, 55), None);
        assert_eq!(complete_threshold_malicious(2, 0, 2), None);
        assert_eq!(complete_threshold_malicious(3, 0, 3), None);
        assert_eq!(complete_threshold_malicious(3, 1, 3), None);
        assert_eq!(complete_threshold_malicious(4, 0, 4), Some(3));
        assert_eq!(complete_threshold_malicious(4, 1, 4), None);
        assert_eq!(complete_threshold_malicious(4, 0, 3), None);
        assert_eq!(
            complete_threshold_malicious(u32::MAX, u32::MAX, u32::MAX),
            None
        );
        for n in 2..200u32 {
            for c in 0..n {
                if let Some(t) = complete_threshold_malicious(n, c, n) {
                    assert!(2 * t > n + c && t < n && t >= 2, "n={n} c={c}");
                    assert!(t > (n + c).div_ceil(2));
                    assert!(t - 1 <= (n + c).div_ceil(2));
                    assert_eq!(complete_threshold_malicious(n, c, t + 1), Some(t));
                    assert_eq!(complete_threshold_malicious(n, c, t), None);
                }
            }
        }
        // With the derivation's counts at n = 100, 30 % corrupt, 5 % dropout.
        let (a, s) = counts(100, 0.3, 0.05);
        assert_eq!((a, s), (30, 95));
        assert_eq!(complete_threshold_malicious(100, a, s), Some(66));
    }

    #[test]
    fn invalid_inputs() {
        for n in [0, 1] {
            assert_eq!(derive(n, 0.05, 0.05), None);
        }
        for f in [
            f64::NAN,
            -0.01,
            1.0,
            1.5,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0 - 1e-300,
        ] {
            assert_eq!(derive(1_000, f, 0.05), None, "corrupt {f}");
            assert_eq!(derive(1_000, 0.05, f), None, "dropout {f}");
            assert_eq!(derive_malicious(1_000, f, 0.05), None);
            assert_eq!(derive_malicious(1_000, 0.05, f), None);
        }
        // Beyond the feasibility bounds.
        assert_eq!(derive(1_000, 0.5, 0.5), None);
        assert_eq!(derive(1_000, 0.45, 0.46), None);
        assert_eq!(derive_malicious(1_000, 0.5, 0.5), None);
        assert_eq!(derive_malicious(1_000, 0.33, 0.33), None);
        assert!(derive(1_000, 0.45, 0.45).is_some());
    }

    #[test]
    fn tiny_rosters_fall_back() {
        // k must be at most n - 2: nothing to choose below n = 4.
        for n in 2..4 {
            assert_eq!(derive(n, 0.0, 0.0), None);
        }
        assert_eq!(derive(4, 0.0, 0.0), Some((2, 2)));
        // Too few clients for the bounds at heavy load: complete graph.
        assert_eq!(derive(20, 0.45, 0.45), None);
    }

    #[test]
    fn outputs_are_well_formed() {
        for n in (4..300).chain([1_000, 4_321, 65_536, 1 << 20]) {
            for (c, d) in [(0.0, 0.0), (0.05, 0.05), (0.1, 0.3), (0.3, 0.1), (0.2, 0.2)] {
                for sm in [false, true] {
                    let got = if sm {
                        derive_malicious(n, c, d)
                    } else {
                        derive(n, c, d)
                    };
                    if let Some((k, t)) = got {
                        assert!(k % 2 == 0 && 2 <= k && k <= n - 2, "n={n} k={k}");
                        assert!(2 <= t && t <= k + 1, "n={n} k={k} t={t}");
                    }
                }
            }
        }
    }

    #[test]
    fn monotone_in_risk() {
        // More corrupt clients or more dropouts never buy a smaller graph,
        // and at fixed fractions k grows (slowly) with n.
        let fractions = [0.0, 0.01, 0.05, 0.1, 0.2, 0.3];
        for n in [100u32, 1_000, 10_000, 1_000_000] {
            for (i, &c) in fractions.iter().enumerate() {
                for &d in &fractions {
                    let Some((k, _)) = derive(n, c, d) else {
                        continue;
                    };
                    if let Some(&c2) = fractions.get(i + 1)
                        && let Some((k2, _)) = derive(n, c2, d)
                    {
                        assert!(k2 >= k, "n={n} c={c}->{c2} d={d}");
                    }
                    if let Some((k2, _)) = derive(n, c, d + 0.05) {
                        assert!(k2 >= k, "n={n} c={c} d={d}+0.05");
                    }
                }
            }
        }
        let mut last = 0;
        for n in [
            100u32,
            300,
            1_000,
            3_000,
            10_000,
            100_000,
            1_000_000,
            100_000_000,
        ] {
            let (k, t) = derive(n, 0.05, 0.05).expect("feasible");
            assert!(k >= last, "n={n}");
            assert!(t <= k + 1);
            last = k;
        }
        // The semi-malicious server always needs at least as much.
        for n in [100u32, 1_000, 10_000, 1_000_000] {
            let (k, t) = derive(n, 0.05, 0.05).expect("feasible");
            let (k2, t2) = derive_malicious(n, 0.05, 0.05).expect("feasible");
            assert!(k2 >= k && t2 > t);
        }
    }

    #[test]
    fn large_rosters_do_not_overflow() {
        for n in [100_000_000u32, u32::MAX] {
            let (k, t) = derive(n, 0.05, 0.05).expect("feasible");
            assert!(k <= 60 && t <= k + 1, "n={n} k={k} t={t}");
            assert!(derive(n, 0.45, 0.45).is_some());
        }
    }

    #[test]
    fn hypergeometric_matches_direct_sum() {
        // Small cases against exact rational arithmetic in f64 via products.
        for (population, marked, draws) in [(20.0, 7.0, 5.0), (50.0, 45.0, 12.0), (30.0, 0.0, 4.0)]
        {
            let h = Hypergeometric::new(population, marked, draws);
            let mut total = 0.0;
            let mut x = 0.0;
            while x <= draws {
                let direct = choose(marked, x) * choose(population - marked, draws - x)
                    / choose(population, draws);
                let ours = if x < h.low || x > h.high {
                    0.0
                } else {
                    h.ln_pmf(x).exp()
                };
                assert!((direct - ours).abs() <= 1e-13 * direct.max(1e-300), "{x}");
                total += direct;
                let lower = h.sum_between(0.0, x);
                let exact = direct_lower(population, marked, draws, x);
                assert!((lower - exact).abs() <= 1e-13, "{x}: {lower} vs {exact}");
                x += 1.0;
            }
            assert!((total - 1.0).abs() < 1e-12);
        }
    }

    /// The module docs' identity: the model's n P[Z_k ≤ τ] (k draws from all
    /// n clients) is exactly the sum over the n clients of each one's own
    /// probability (k draws from the n − 1 others); for corrupt neighbours
    /// the honest owners' sum is at most the model's. Checked by direct
    /// summation at small n, then for every derived (k, t), semi-honest and
    /// malicious, on a grid, where the per-owner sum must also meet check 3
    /// (2^−20) and the honest owners' privacy sum 2^−41.
    #[test]
    fn union_bound_over_owners_is_exact() {
        let lower = direct_lower;
        for (n, s, k) in [(30.0, 24.0, 8.0), (40.0, 31.0, 10.0), (25.0, 5.0, 6.0)] {
            for tau in 0..=8 {
                let tau = f64::from(tau);
                let model = n * lower(n, s, k, tau);
                let owners =
                    s * lower(n - 1.0, s - 1.0, k, tau) + (n - s) * lower(n - 1.0, s, k, tau);
                assert!(
                    (model - owners).abs() <= 1e-12 * model.max(1e-300),
                    "{n} {s} {k}"
                );
            }
        }

        let tail = |population: f64, marked: f64, draws: f64, from: f64, to: f64| {
            Hypergeometric::new(population, marked, draws).sum_between(from, to)
        };
        let fractions = [0.01, 0.05, 0.1, 0.2, 0.3];
        let mut checked = 0;
        for n in [100u32, 300, 1_000, 3_000, 10_000] {
            for &g in &fractions {
                for &d in &fractions {
                    for malicious in [false, true] {
                        let derived = if malicious {
                            derive_malicious(n, g, d)
                        } else {
                            derive(n, g, d)
                        };
                        let Some((k, t)) = derived else { continue };
                        let (nf, kf, tf) = (f64::from(n), f64::from(k), f64::from(t));
                        let (a, s) = counts(n, g, d);
                        let (af, sf) = (f64::from(a), f64::from(s));
                        // Check 3 with the client's own share not counted:
                        // fewer than t surviving neighbours.
                        let model = nf * tail(nf, sf, kf, 0.0, tf - 1.0);
                        let owners = sf * tail(nf - 1.0, sf - 1.0, kf, 0.0, tf - 1.0)
                            + (nf - sf) * tail(nf - 1.0, sf, kf, 0.0, tf - 1.0);
                        assert!(
                            (model - owners).abs() <= 1e-9 * model.max(1e-300),
                            "n={n} {g} {d}: {model:e} vs {owners:e}"
                        );
                        assert!(owners < CORRECTNESS_FAILURE, "n={n} {g} {d} {malicious}");
                        // Privacy: more than c corrupt neighbours, at honest
                        // owners only (A corrupt among the n − 1 others).
                        let c = f64::from(corrupt_bound(n, k, g).unwrap());
                        let honest = (nf - af) * tail(nf - 1.0, af, kf, c + 1.0, kf);
                        assert!(honest <= nf * tail(nf, af, kf, c + 1.0, kf) * (1.0 + 1e-9));
                        assert!(honest < PER_EVENT_FAILURE, "n={n} {g} {d}");
                        checked += 1;
                    }
                }
            }
        }
        // Most of the grid has a sparse graph in both classes.
        assert!(checked > 150, "{checked}");
    }

    /// P[X <= to] by direct summation of the pmf's binomial products.
    fn direct_lower(population: f64, marked: f64, draws: f64, to: f64) -> f64 {
        let mut sum = 0.0;
        let mut x = 0.0;
        while x <= to {
            sum += choose(marked, x) * choose(population - marked, draws - x)
                / choose(population, draws);
            x += 1.0;
        }
        sum
    }

    fn choose(m: f64, x: f64) -> f64 {
        if x < 0.0 || x > m {
            return 0.0;
        }
        let mut r = 1.0;
        let mut i = 0.0;
        while i < x {
            r = r * (m - i) / (i + 1.0);
            i += 1.0;
        }
        r
    }

    /// A uniform value in `0..bound` (bound > 0), by rejection.
    fn below(rng: &mut ChaCha20Rng, bound: u64) -> u64 {
        let zone = u64::MAX - u64::MAX % bound;
        loop {
            let r = rng.next_u64();
            if r < zone {
                return r % bound;
            }
        }
    }

    /// Runs `trials` rounds on H(k, n) with a fresh random labelling each,
    /// every client dropping independently with probability `drop_per_mille
    /// / 1000`; returns how many rounds were good: every client, surviving or
    /// dropped, kept at least t surviving neighbours (itself not counted), so
    /// every survivor's self-mask seed and every dropped client's mask key
    /// can be reconstructed.
    fn good_rounds(
        n: usize,
        k: usize,
        t: usize,
        drop_per_mille: u64,
        trials: u32,
        seed: u64,
    ) -> u32 {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let half = k / 2;
        let mut label_at: Vec<usize> = (0..n).collect();
        let mut alive_label = vec![false; n];
        let mut alive_at = vec![0usize; n];
        let mut good = 0;
        for _ in 0..trials {
            for i in (1..n).rev() {
                let j = usize::try_from(below(&mut rng, u64::try_from(i + 1).expect("n fits")))
                    .expect("index fits");
                label_at.swap(i, j);
            }
            for a in &mut alive_label {
                *a = below(&mut rng, 1000) >= drop_per_mille;
            }
            for (slot, &label) in alive_at.iter_mut().zip(&label_at) {
                *slot = usize::from(alive_label[label]);
            }
            // Window over ring slots p - half ..= p + half, self included.
            let mut window: usize = (0..=2 * half).map(|d| alive_at[(n + d - half) % n]).sum();
            let mut ok = true;
            for p in 0..n {
                if window - alive_at[p] < t {
                    ok = false;
                    break;
                }
                window = window + alive_at[(p + half + 1) % n] - alive_at[(p + n - half) % n];
            }
            good += u32::from(ok);
        }
        good
    }

    #[test]
    fn monte_carlo_dropout_5_percent() {
        const TRIALS: u32 = 10_000;
        for (n, seed) in [(100u32, 1u64), (1_000, 2)] {
            let (k, t) = derive(n, 0.05, 0.05).expect("feasible");
            let (nn, kk, tt) = (
                usize::try_from(n).expect("fits"),
                usize::try_from(k).expect("fits"),
                usize::try_from(t).expect("fits"),
            );
            let good = good_rounds(nn, kk, tt, 50, TRIALS, seed);
            // Required: at least 99.9 % good rounds.
            assert!(
                good * 1000 >= TRIALS * 999,
                "n={n} k={k} t={t}: {good}/{TRIALS}"
            );
        }
    }

    #[test]
    fn monte_carlo_detects_a_bad_threshold() {
        // The same check with t = k (all neighbours needed) fails nearly
        // always: the simulation is not vacuous.
        let good = good_rounds(100, 12, 12, 50, 200, 3);
        assert!(good < 10, "{good}");
    }
}
