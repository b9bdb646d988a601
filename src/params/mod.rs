//! Round parameters: validation, canonical encoding and the SecAgg+ (k, t)
//! derivation (spec/params.md).

pub mod secagg_plus;

use rand_core::CryptoRng;

use crate::codec::{Reader, VERSION, put_u32};
use crate::crypto::prg::Prg;
use crate::dp::{DpConfig, DpError};
use crate::error::{DecodeError, Error, ParamsError};

/// A host-chosen id of one round, fresh for every round a client takes part
/// in (spec/protocol.md section 2): it binds the AdvertiseKeys message, the
/// key schedule and the Harary label permutation to the round.
pub type RoundId = [u8; 32];

/// What the server is trusted to do (spec/threat-model.md).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum ServerModel {
    /// The server follows the protocol (it may collude with clients and
    /// read everything it is sent). Four rounds; a malicious server is out
    /// of scope.
    SemiHonest,
    /// The server may drop, alter, trim and equivocate. Adds signed keys
    /// (the PKI of a [`crate::Roster`]), signed masking sets and the
    /// consistency round.
    Malicious {
        /// c: the most corrupt clients tolerated in any neighbourhood (the
        /// whole roster on the complete graph). Validation requires `t > c`
        /// and a unique accepted survivor set: `2t > n + c` on the complete
        /// graph, `2t - k > c` on a Harary graph of degree k.
        corrupt: u32,
    },
}

pub use crate::codec::{MAX_CLIENTS, MAX_DIM};

/// The neighbour graph: who masks with and holds shares for whom.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Graph {
    /// Every client is every other client's neighbour (SecAgg, Bonawitz et
    /// al. CCS 2017).
    Complete,
    /// The Harary graph H(k, n) with labels permuted by a public seed
    /// (SecAgg+, Bell et al. CCS 2020): each client has `degree` neighbours.
    Harary {
        /// The number of neighbours of each client (even, `2..n`).
        degree: u32,
        /// Public randomness that permutes the labels (spec/params.md section 3).
        seed: [u8; 32],
    },
}

/// What a client requires of the parameters a server sends before it takes
/// part (its own policy, not the server's): checked by
/// [`Params::check_policy`].
///
/// ```
/// use secagg::{Graph, Params, Policy};
/// let policy = Policy { min_threshold: 3, min_clients: 4, require_malicious: false };
/// let p = Params::new(4, 3, 32, 8, Graph::Complete)?;
/// p.check_policy(&policy)?;
/// let weak = Params::new(4, 2, 32, 8, Graph::Complete)?;
/// assert!(weak.check_policy(&policy).is_err());
/// # Ok::<(), secagg::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Policy {
    /// The least threshold t accepted: how many colluding neighbours it
    /// takes to learn a client's secrets.
    pub min_threshold: u32,
    /// The least roster size n accepted.
    pub min_clients: u32,
    /// Refuse semi-honest parameters (take part only where the server is
    /// not trusted to follow the protocol).
    pub require_malicious: bool,
}

/// Parameters with named fields, for readers of the call site:
/// `Params::builder().clients(4).threshold(3).bits(32).dim(3).build()`.
///
/// ```
/// use secagg::{Graph, Params, ServerModel};
/// let p = Params::builder()
///     .clients(7)
///     .threshold(5)
///     .bits(32)
///     .dim(1000)
///     .graph(Graph::Complete)
///     .model(ServerModel::Malicious { corrupt: 1 })
///     .build()?;
/// assert_eq!((p.clients(), p.threshold(), p.dim()), (7, 5, 1000));
/// # Ok::<(), secagg::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ParamsBuilder {
    clients: u32,
    threshold: u32,
    bits: u8,
    dim: u32,
    graph: Graph,
    model: ServerModel,
    prg: Prg,
}

impl ParamsBuilder {
    /// n, the roster size.
    pub fn clients(mut self, n: u32) -> Self {
        self.clients = n;
        self
    }
    /// t, the Shamir threshold.
    pub fn threshold(mut self, t: u32) -> Self {
        self.threshold = t;
        self
    }
    /// b: sums are taken mod `2^b` (default 32).
    pub fn bits(mut self, b: u8) -> Self {
        self.bits = b;
        self
    }
    /// m, the vector length.
    pub fn dim(mut self, m: u32) -> Self {
        self.dim = m;
        self
    }
    /// The neighbour graph (default complete).
    pub fn graph(mut self, graph: Graph) -> Self {
        self.graph = graph;
        self
    }
    /// The server model (default semi-honest).
    pub fn model(mut self, model: ServerModel) -> Self {
        self.model = model;
        self
    }
    /// The mask PRG (default [`Prg::ChaCha20`]).
    pub fn prg(mut self, prg: Prg) -> Self {
        self.prg = prg;
        self
    }
    /// Validates and builds, as [`Params::new`] then [`Params::with_model`]
    /// and [`Params::with_prg`].
    ///
    /// # Errors
    /// As those two.
    pub fn build(self) -> Result<Params, Error> {
        Ok(Params::new(
            self.clients,
            self.threshold,
            self.bits,
            self.dim,
            self.graph,
        )?
        .with_model(self.model)?
        .with_prg(self.prg))
    }
}

/// Extension type of the differential-privacy configuration.
const EXT_DP: u8 = 1;
/// Extension type of the mask PRG.
const EXT_PRG: u8 = 2;
/// The PRG extension's body byte for AES-128-CTR.
const PRG_AES128_CTR: u8 = 1;

/// The parameters of one round, validated at construction.
///
/// Implements spec/params.md section 2.
///
/// ```
/// use secagg::{Graph, Params};
/// let p = Params::new(5, 3, 32, 8, Graph::Complete)?;
/// assert_eq!(p.degree(), 4);
/// assert_eq!(Params::decode(&p.to_bytes())?, p);
/// # Ok::<(), secagg::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Params {
    clients: u32,
    threshold: u32,
    bits: u8,
    dim: u32,
    graph: Graph,
    model: ServerModel,
    /// The canonical encoding of the differential-privacy configuration
    /// (spec/dp.md), when the round adds noise.
    dp: Option<Vec<u8>>,
    /// The mask PRG (spec/crypto.md section 5).
    prg: Prg,
}

impl Params {
    /// Validates and builds parameters: `clients` n, `threshold` t, modulus
    /// `2^bits`, vector length `dim` m, and the neighbour graph.
    ///
    /// # Errors
    /// [`Error::Params`] when n is outside `2..=MAX_CLIENTS`, `bits` outside
    /// `1..=64`, m above [`MAX_DIM`], a Harary degree odd, below 2 or not below
    /// n, or t outside `2..=k + 1` (k the degree; a threshold of 1 would let
    /// any one neighbour reconstruct a client's secrets).
    pub fn new(
        clients: u32,
        threshold: u32,
        bits: u8,
        dim: u32,
        graph: Graph,
    ) -> Result<Self, Error> {
        if !(2..=MAX_CLIENTS).contains(&clients) {
            return Err(ParamsError::ClientCount.into());
        }
        if !(1..=64).contains(&bits) {
            return Err(ParamsError::Bits.into());
        }
        if dim > MAX_DIM {
            return Err(ParamsError::Dimension.into());
        }
        let degree = match &graph {
            Graph::Complete => clients - 1,
            Graph::Harary { degree, .. } => {
                if *degree < 2 || *degree >= clients || degree % 2 != 0 {
                    return Err(ParamsError::Degree.into());
                }
                *degree
            }
        };
        if threshold < 2 || threshold > degree + 1 {
            return Err(ParamsError::Threshold.into());
        }
        Ok(Self {
            clients,
            threshold,
            bits,
            dim,
            graph,
            model: ServerModel::SemiHonest,
            dp: None,
            prg: Prg::ChaCha20,
        })
    }

    /// These parameters with the differential-privacy configuration `dp`
    /// (spec/dp.md): every party then agrees on it, since it travels in the
    /// canonical encoding.
    ///
    /// # Errors
    /// [`Error::Dp`] with [`DpError::ParamsMismatch`] unless the
    /// configuration is for these n and b and its padded dimension is m,
    /// or any error of [`DpConfig::calibrate`].
    pub fn with_dp(mut self, dp: &DpConfig) -> Result<Self, Error> {
        let padded = dp.calibrate()?.padded_dim();
        if dp.clients != self.clients
            || dp.bits != self.bits
            || usize::try_from(self.dim).ok() != Some(padded)
        {
            return Err(DpError::ParamsMismatch.into());
        }
        self.dp = Some(dp.to_bytes());
        Ok(self)
    }

    /// The differential-privacy configuration, if the round has one.
    pub fn dp(&self) -> Option<DpConfig> {
        self.dp.as_deref().and_then(|b| DpConfig::decode(b).ok())
    }

    /// These parameters with the mask PRG `prg` (spec/crypto.md section 5).
    /// The server chooses it (for instance [`Prg::fastest`] on its own CPU)
    /// and the canonical encoding carries it, so every client expands the
    /// same masks.
    pub fn with_prg(mut self, prg: Prg) -> Self {
        self.prg = prg;
        self
    }

    /// The mask PRG ([`Prg::ChaCha20`] unless set).
    pub fn prg(&self) -> Prg {
        self.prg
    }

    /// A builder with named fields (b = 32, complete graph, semi-honest,
    /// ChaCha20 unless set).
    pub fn builder() -> ParamsBuilder {
        ParamsBuilder {
            clients: 0,
            threshold: 0,
            bits: 32,
            dim: 0,
            graph: Graph::Complete,
            model: ServerModel::SemiHonest,
            prg: Prg::ChaCha20,
        }
    }

    /// Checks these parameters, received from a server, against a client's
    /// own `policy` before it takes part.
    ///
    /// # Errors
    /// [`ParamsError::Policy`] when t or n is below the policy's minimum,
    /// or the policy requires the malicious model and these are
    /// semi-honest.
    pub fn check_policy(&self, policy: &Policy) -> Result<(), Error> {
        if self.threshold < policy.min_threshold
            || self.clients < policy.min_clients
            || (policy.require_malicious && !self.is_malicious())
        {
            return Err(ParamsError::Policy.into());
        }
        Ok(())
    }

    /// These parameters under server model `model`.
    ///
    /// ```
    /// use secagg::{Graph, Params, ServerModel};
    /// // n = 10, c = 2: a unique survivor set needs 2t > 12.
    /// let p = Params::new(10, 7, 32, 8, Graph::Complete)?
    ///     .with_model(ServerModel::Malicious { corrupt: 2 })?;
    /// assert!(Params::new(10, 6, 32, 8, Graph::Complete)?
    ///     .with_model(ServerModel::Malicious { corrupt: 2 }).is_err());
    /// # Ok::<(), secagg::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`ParamsError::NotUnique`] in the malicious model when `t <= c`, or
    /// `2t <= n + c` on the complete graph, or `2t - k <= c` on a Harary
    /// graph (spec/params.md section 4.7.2).
    pub fn with_model(mut self, model: ServerModel) -> Result<Self, Error> {
        if let ServerModel::Malicious { corrupt } = model {
            // A survivor set is certified by t signers among a client's k
            // neighbours, itself not counted (spec/protocol.md section
            // 4.5): with t = k + 1 no round could finish.
            if self.threshold > self.degree() {
                return Err(ParamsError::Threshold.into());
            }
            let (t, c) = (u64::from(self.threshold), u64::from(corrupt));
            let unique = match self.graph {
                Graph::Complete => 2 * t > u64::from(self.clients) + c,
                Graph::Harary { degree, .. } => 2 * t > u64::from(degree) + c,
            };
            if t <= c || !unique {
                return Err(ParamsError::NotUnique.into());
            }
        }
        self.model = model;
        Ok(self)
    }

    /// SecAgg+ parameters for `clients` clients of which at most
    /// `corrupt_fraction` collude with the server and at most
    /// `dropout_fraction` drop out: (k, t) from [`secagg_plus::derive()`]
    /// (spec/params.md section 4), the label permutation seed drawn from
    /// `rng`. When no sparse graph meets the bounds, the complete graph with
    /// threshold `max(A + 1, min(floor(n / 2) + 1, S))`, A the corrupt and S
    /// the surviving clients.
    ///
    /// # What t tolerates
    ///
    /// Each client's two secrets are shared among its k + 1 holders (its k
    /// neighbours and itself) with threshold t, so:
    /// - **privacy**: they stay hidden while at most t - 1 of a client's
    ///   holders collude with the server ([`Params::max_colluding_holders`]).
    ///   t is chosen so that, with at most `corrupt_fraction` n corrupt
    ///   clients and the neighbours drawn at random, no neighbourhood holds t
    ///   of them except with probability 2^-40;
    /// - **completion**: the round finishes while every client in the sum
    ///   keeps t of its holders to the end, so up to k + 1 - t holders of each
    ///   client may drop ([`Params::max_dropped_holders`]); at
    ///   `dropout_fraction` the round fails with probability at most 2^-20.
    ///
    /// A small roster also gets a sparse graph whenever one meets both
    /// bounds: 20 clients at 5 % corrupt and 5 % dropout give k = 4 and
    /// t = 2, which tolerates the one corrupt client 5 % of 20 allows and
    /// no more. A client that wants more checks the parameters it is sent
    /// against its [`Policy`]; a server that wants more passes larger
    /// fractions or builds the complete graph with [`Params::builder`].
    ///
    /// ```
    /// use rand_core::SeedableRng;
    /// let mut rng = chacha20::ChaCha20Rng::seed_from_u64(1);
    /// let p = secagg::Params::secagg_plus(1000, 32, 10, 0.05, 0.05, &mut rng)?;
    /// assert_eq!((p.degree(), p.threshold()), (30, 17));
    /// assert_eq!((p.max_colluding_holders(), p.max_dropped_holders()), (16, 14));
    ///
    /// let small = secagg::Params::secagg_plus(20, 32, 10, 0.05, 0.05, &mut rng)?;
    /// assert_eq!((small.degree(), small.threshold()), (4, 2));
    /// assert_eq!(small.max_colluding_holders(), 1);
    /// # Ok::<(), secagg::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Params`]: [`ParamsError::Fraction`] for fractions outside
    /// `[0, 1)`, [`ParamsError::NoSafeThreshold`] when the complete graph
    /// has no threshold above the corrupt count that the survivors can
    /// reach, or as [`Params::new`].
    pub fn secagg_plus<R: CryptoRng + ?Sized>(
        clients: u32,
        bits: u8,
        dim: u32,
        corrupt_fraction: f64,
        dropout_fraction: f64,
        rng: &mut R,
    ) -> Result<Self, Error> {
        for f in [corrupt_fraction, dropout_fraction] {
            if !(0.0..1.0).contains(&f) {
                return Err(ParamsError::Fraction.into());
            }
        }
        if let Some((degree, threshold)) =
            secagg_plus::derive(clients, corrupt_fraction, dropout_fraction)
        {
            let mut seed = [0u8; 32];
            rng.fill_bytes(&mut seed);
            return Self::new(
                clients,
                threshold,
                bits,
                dim,
                Graph::Harary { degree, seed },
            );
        }
        let (corrupt, survivors) = secagg_plus::counts(clients, corrupt_fraction, dropout_fraction);
        if corrupt.saturating_add(1) > survivors {
            return Err(ParamsError::NoSafeThreshold.into());
        }
        let t = (corrupt + 1).max((clients / 2 + 1).min(survivors)).max(2);
        Self::new(clients, t, bits, dim, Graph::Complete)
    }

    /// SecAgg+ parameters for the malicious-server model: (k, t) from
    /// [`secagg_plus::derive_malicious()`] (spec/params.md section 4.7) and
    /// the corrupt bound c from [`secagg_plus::corrupt_bound()`], so that
    /// the survivor set is unique (`2t - k > c`); the label permutation seed
    /// drawn from `rng`. When no sparse graph meets the bounds, the complete
    /// graph with the least threshold above `ceil((n + A) / 2)`, A the
    /// corrupt clients, if the survivors can reach it.
    ///
    /// ```
    /// use rand_core::SeedableRng;
    /// let mut rng = chacha20::ChaCha20Rng::seed_from_u64(1);
    /// let p = secagg::Params::secagg_plus_malicious(1000, 32, 10, 0.05, 0.05, &mut rng)?;
    /// assert_eq!((p.degree(), p.threshold()), (52, 37));
    /// assert!(p.is_malicious());
    /// # Ok::<(), secagg::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Params::secagg_plus`].
    pub fn secagg_plus_malicious<R: CryptoRng + ?Sized>(
        clients: u32,
        bits: u8,
        dim: u32,
        corrupt_fraction: f64,
        dropout_fraction: f64,
        rng: &mut R,
    ) -> Result<Self, Error> {
        for f in [corrupt_fraction, dropout_fraction] {
            if !(0.0..1.0).contains(&f) {
                return Err(ParamsError::Fraction.into());
            }
        }
        if let Some((degree, threshold)) =
            secagg_plus::derive_malicious(clients, corrupt_fraction, dropout_fraction)
            && let Some(corrupt) = secagg_plus::corrupt_bound(clients, degree, corrupt_fraction)
        {
            let mut seed = [0u8; 32];
            rng.fill_bytes(&mut seed);
            return Self::new(
                clients,
                threshold,
                bits,
                dim,
                Graph::Harary { degree, seed },
            )?
            .with_model(ServerModel::Malicious { corrupt });
        }
        let (corrupt, survivors) = secagg_plus::counts(clients, corrupt_fraction, dropout_fraction);
        let t = secagg_plus::complete_threshold_malicious(clients, corrupt, survivors)
            .ok_or(ParamsError::NoSafeThreshold)?;
        Self::new(clients, t, bits, dim, Graph::Complete)?
            .with_model(ServerModel::Malicious { corrupt })
    }

    /// t - 1: the most holders of one client's secrets (its neighbours and
    /// itself) that may collude with the server while those secrets stay
    /// hidden.
    pub fn max_colluding_holders(&self) -> u32 {
        self.threshold - 1
    }

    /// The most holders of one client's secrets (its neighbours and
    /// itself) that may drop out while the round still finishes: k + 1 - t,
    /// so that t remain to remove its masks; in the malicious-server model
    /// k - t, since its survivor set must also be certified by t signers
    /// among its k neighbours (spec/protocol.md section 4.5).
    pub fn max_dropped_holders(&self) -> u32 {
        let holders = if self.is_malicious() {
            self.degree()
        } else {
            self.degree() + 1
        };
        holders.saturating_sub(self.threshold)
    }

    /// n, the roster size.
    pub fn clients(&self) -> u32 {
        self.clients
    }

    /// t, the Shamir threshold.
    pub fn threshold(&self) -> u32 {
        self.threshold
    }

    /// b: sums are taken mod `2^b`.
    pub fn bits(&self) -> u8 {
        self.bits
    }

    /// m, the vector length.
    pub fn dim(&self) -> u32 {
        self.dim
    }

    /// The neighbour graph.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The server model.
    pub fn model(&self) -> ServerModel {
        self.model
    }

    /// Whether the round runs the malicious-server model.
    pub fn is_malicious(&self) -> bool {
        matches!(self.model, ServerModel::Malicious { .. })
    }

    /// k, the number of neighbours of each client (`n - 1` for the complete graph).
    pub fn degree(&self) -> u32 {
        match self.graph {
            Graph::Complete => self.clients - 1,
            Graph::Harary { degree, .. } => degree,
        }
    }

    pub(crate) fn dim_usize(&self) -> usize {
        usize::try_from(self.dim).unwrap_or(usize::MAX)
    }

    pub(crate) fn clients_usize(&self) -> usize {
        usize::try_from(self.clients).unwrap_or(usize::MAX)
    }

    pub(crate) fn threshold_usize(&self) -> usize {
        usize::try_from(self.threshold).unwrap_or(usize::MAX)
    }

    /// The canonical encoding (spec/wire-format.md section 4).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(56);
        out.push(VERSION);
        put_u32(&mut out, self.clients);
        put_u32(&mut out, self.threshold);
        out.push(self.bits);
        put_u32(&mut out, self.dim);
        match &self.graph {
            Graph::Complete => out.push(0),
            Graph::Harary { degree, seed } => {
                out.push(1);
                put_u32(&mut out, *degree);
                out.extend_from_slice(seed);
            }
        }
        match self.model {
            ServerModel::SemiHonest => out.push(0),
            ServerModel::Malicious { corrupt } => {
                out.push(1);
                put_u32(&mut out, corrupt);
            }
        }
        // Extensions: a count, then (type, u32 length, body) each, in
        // ascending type order. Type 1 is the differential-privacy
        // configuration, type 2 the mask PRG when it is not ChaCha20.
        let prg = match self.prg {
            Prg::ChaCha20 => None,
            Prg::Aes128Ctr => Some(PRG_AES128_CTR),
        };
        out.push(u8::from(self.dp.is_some()) + u8::from(prg.is_some()));
        if let Some(dp) = &self.dp {
            out.push(EXT_DP);
            put_u32(&mut out, u32::try_from(dp.len()).unwrap_or(u32::MAX));
            out.extend_from_slice(dp);
        }
        if let Some(prg) = prg {
            out.push(EXT_PRG);
            put_u32(&mut out, 1);
            out.push(prg);
        }
        out
    }

    /// Decodes and validates [`Params::to_bytes`] output.
    ///
    /// # Errors
    /// [`Error::Decode`] for bytes that are not a canonical encoding,
    /// [`Error::Params`] for an encoding of invalid parameters.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(bytes);
        let version = r.u8()?;
        if version != VERSION {
            return Err(DecodeError::UnsupportedVersion(version).into());
        }
        let clients = r.u32()?;
        let threshold = r.u32()?;
        let bits = r.u8()?;
        let dim = r.u32()?;
        let graph = match r.u8()? {
            0 => Graph::Complete,
            1 => Graph::Harary {
                degree: r.u32()?,
                seed: r.array()?,
            },
            _ => return Err(DecodeError::NonCanonical.into()),
        };
        let model = match r.u8()? {
            0 => ServerModel::SemiHonest,
            1 => ServerModel::Malicious { corrupt: r.u32()? },
            _ => return Err(DecodeError::NonCanonical.into()),
        };
        let count = r.u8()?;
        if count > 2 {
            return Err(DecodeError::NonCanonical.into());
        }
        let (mut dp, mut prg, mut last) = (None, Prg::ChaCha20, 0u8);
        for _ in 0..count {
            // At most one of each type, in ascending order.
            let kind = r.u8()?;
            if kind <= last {
                return Err(DecodeError::NonCanonical.into());
            }
            last = kind;
            let len = r.u32()? as usize;
            match kind {
                EXT_DP => dp = Some(DpConfig::decode(r.take(len)?)?),
                EXT_PRG => {
                    // ChaCha20 is the absence of the extension.
                    prg = match r.take(len)? {
                        [PRG_AES128_CTR] => Prg::Aes128Ctr,
                        _ => return Err(DecodeError::NonCanonical.into()),
                    };
                }
                _ => return Err(DecodeError::NonCanonical.into()),
            }
        }
        r.finish()?;
        let p = Self::new(clients, threshold, bits, dim, graph)?
            .with_model(model)?
            .with_prg(prg);
        match dp {
            Some(dp) => p.with_dp(&dp),
            None => Ok(p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        let h = |degree| Graph::Harary {
            degree,
            seed: [0; 32],
        };
        assert!(Params::new(2, 2, 1, 0, Graph::Complete).is_ok());
        assert_eq!(
            Params::new(1, 2, 8, 1, Graph::Complete),
            Err(Error::Params(ParamsError::ClientCount))
        );
        assert_eq!(
            Params::new(5, 1, 8, 1, Graph::Complete),
            Err(Error::Params(ParamsError::Threshold))
        );
        assert_eq!(
            Params::new(5, 6, 8, 1, Graph::Complete),
            Err(Error::Params(ParamsError::Threshold))
        );
        assert_eq!(
            Params::new(5, 5, 0, 1, Graph::Complete),
            Err(Error::Params(ParamsError::Bits))
        );
        assert_eq!(
            Params::new(5, 5, 65, 1, Graph::Complete),
            Err(Error::Params(ParamsError::Bits))
        );
        assert_eq!(
            Params::new(5, 5, 8, MAX_DIM + 1, Graph::Complete),
            Err(Error::Params(ParamsError::Dimension))
        );
        assert_eq!(
            Params::new(10, 3, 8, 1, h(3)),
            Err(Error::Params(ParamsError::Degree))
        );
        assert_eq!(
            Params::new(10, 3, 8, 1, h(10)),
            Err(Error::Params(ParamsError::Degree))
        );
        assert_eq!(
            Params::new(10, 3, 8, 1, h(0)),
            Err(Error::Params(ParamsError::Degree))
        );
        assert_eq!(
            Params::new(10, 6, 8, 1, h(4)),
            Err(Error::Params(ParamsError::Threshold))
        );
        assert!(Params::new(10, 5, 8, 1, h(4)).is_ok());
    }

    #[test]
    fn secagg_plus_derives_or_falls_back() {
        use rand_core::SeedableRng;
        let mut rng = chacha20::ChaCha20Rng::seed_from_u64(3);
        let p = Params::secagg_plus(100, 16, 4, 0.05, 0.05, &mut rng).unwrap();
        assert_eq!((p.degree(), p.threshold()), (12, 6));
        assert!(matches!(p.graph(), Graph::Harary { .. }));
        // No sparse graph (corrupt + dropout > 0.9): complete graph, a
        // majority threshold when it is above the corrupt count...
        let p = Params::secagg_plus(100, 16, 4, 0.5, 0.45, &mut rng).unwrap();
        assert_eq!((p.graph(), p.threshold()), (&Graph::Complete, 51));
        // ... and just above the corrupt count otherwise.
        let p = Params::secagg_plus(100, 16, 4, 0.6, 0.35, &mut rng).unwrap();
        assert_eq!((p.graph(), p.threshold()), (&Graph::Complete, 61));
        // 60% corrupt, 45% dropout: none.
        assert_eq!(
            Params::secagg_plus(100, 16, 4, 0.6, 0.45, &mut rng),
            Err(Error::Params(ParamsError::NoSafeThreshold))
        );
        assert_eq!(
            Params::secagg_plus(100, 16, 4, 1.0, 0.0, &mut rng),
            Err(Error::Params(ParamsError::Fraction))
        );
        assert_eq!(
            Params::secagg_plus(100, 16, 4, f64::NAN, 0.0, &mut rng),
            Err(Error::Params(ParamsError::Fraction))
        );
    }

    #[test]
    fn malicious_derivation_meets_uniqueness() {
        use rand_core::SeedableRng;
        let mut rng = chacha20::ChaCha20Rng::seed_from_u64(4);
        for (n, k, t) in [(100, 16, 11), (1000, 52, 37), (10_000, 62, 44)] {
            let p = Params::secagg_plus_malicious(n, 32, 1, 0.05, 0.05, &mut rng).unwrap();
            assert_eq!((p.degree(), p.threshold()), (k, t), "n = {n}");
            let ServerModel::Malicious { corrupt } = p.model() else {
                panic!("malicious model expected")
            };
            assert!(2 * t > k + corrupt, "n = {n}: 2t - k > c");
            assert_eq!(Params::decode(&p.to_bytes()).unwrap(), p);
        }
        // Small rosters, sparse or complete: the uniqueness rule holds.
        for n in [5, 8, 20, 50] {
            let p = Params::secagg_plus_malicious(n, 32, 1, 0.05, 0.05, &mut rng).unwrap();
            let ServerModel::Malicious { corrupt } = p.model() else {
                panic!("malicious model expected")
            };
            let base = match p.graph() {
                Graph::Complete => n,
                Graph::Harary { degree, .. } => *degree,
            };
            assert!(2 * p.threshold() > base + corrupt, "n = {n}");
        }
        // A threshold that does not make the set unique is refused.
        let weak = Params::new(20, 10, 32, 1, Graph::Complete).unwrap();
        assert_eq!(
            weak.with_model(ServerModel::Malicious { corrupt: 0 }),
            Err(Error::Params(ParamsError::NotUnique))
        );
        assert_eq!(
            Params::new(
                20,
                4,
                32,
                1,
                Graph::Harary {
                    degree: 6,
                    seed: [0; 32]
                }
            )
            .unwrap()
            .with_model(ServerModel::Malicious { corrupt: 2 }),
            Err(Error::Params(ParamsError::NotUnique))
        );
    }

    #[test]
    fn dp_extension_roundtrips_and_must_match() {
        let dp = crate::dp::DpConfig::new(1.0, 1e-5, 1.0, 100, 20, 10).unwrap();
        let m = u32::try_from(dp.padded_dim().unwrap()).unwrap();
        let p = Params::new(10, 6, 20, m, Graph::Complete)
            .unwrap()
            .with_dp(&dp)
            .unwrap();
        assert_eq!(p.dp(), Some(dp));
        let bytes = p.to_bytes();
        assert_eq!(Params::decode(&bytes), Ok(p));
        // Wrong dimension or bits for the configuration.
        assert_eq!(
            Params::new(10, 6, 20, m + 1, Graph::Complete)
                .unwrap()
                .with_dp(&dp),
            Err(Error::Dp(crate::dp::DpError::ParamsMismatch))
        );
        assert_eq!(
            Params::new(10, 6, 21, m, Graph::Complete)
                .unwrap()
                .with_dp(&dp),
            Err(Error::Dp(crate::dp::DpError::ParamsMismatch))
        );
        // A corrupted extension body is refused.
        let mut bad = bytes.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        assert!(Params::decode(&bad).is_err());
        for cut in 0..bytes.len() {
            assert!(Params::decode(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn encoding_roundtrip_and_strictness() {
        let p = Params::new(
            20,
            4,
            33,
            300,
            Graph::Harary {
                degree: 6,
                seed: [5; 32],
            },
        )
        .unwrap();
        let bytes = p.to_bytes();
        assert_eq!(Params::decode(&bytes), Ok(p));
        for cut in 0..bytes.len() {
            assert!(Params::decode(&bytes[..cut]).is_err());
        }
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(
            Params::decode(&long),
            Err(Error::Decode(DecodeError::TrailingBytes))
        );
        let mut ext = bytes;
        let last = ext.len() - 1;
        ext[last] = 3;
        assert_eq!(
            Params::decode(&ext),
            Err(Error::Decode(DecodeError::NonCanonical))
        );
    }

    /// `p`'s encoding with its extension list replaced by `list` (count
    /// byte included); `p` has none.
    fn with_extensions(p: &Params, list: &[u8]) -> Vec<u8> {
        let mut bytes = p.to_bytes();
        assert_eq!(bytes.pop(), Some(0));
        bytes.extend_from_slice(list);
        bytes
    }

    #[test]
    fn prg_extension_roundtrips_and_is_canonical() {
        let plain = Params::new(5, 3, 32, 8, Graph::Complete).unwrap();
        assert_eq!(plain.prg(), Prg::ChaCha20);
        // ChaCha20 is the absence of the extension: the encoding is the
        // same as before the extension existed.
        assert_eq!(plain.clone().with_prg(Prg::ChaCha20), plain);
        assert_eq!(
            plain.clone().with_prg(Prg::ChaCha20).to_bytes(),
            plain.to_bytes()
        );
        assert_eq!(plain.to_bytes().last(), Some(&0));
        let aes = plain.clone().with_prg(Prg::Aes128Ctr);
        assert_ne!(aes, plain);
        let bytes = aes.to_bytes();
        assert_eq!(bytes, with_extensions(&plain, &[1, 2, 1, 0, 0, 0, 1]));
        let back = Params::decode(&bytes).unwrap();
        assert_eq!(back.prg(), Prg::Aes128Ctr);
        assert_eq!(back, aes);
        for cut in 0..bytes.len() {
            assert!(Params::decode(&bytes[..cut]).is_err());
        }
        let built = Params::builder()
            .clients(5)
            .threshold(3)
            .dim(8)
            .prg(Prg::Aes128Ctr)
            .build()
            .unwrap();
        assert_eq!(built, aes);
        let non_canonical = |list: &[u8]| {
            assert_eq!(
                Params::decode(&with_extensions(&plain, list)),
                Err(Error::Decode(DecodeError::NonCanonical)),
                "{list:?}"
            );
        };
        // A PRG byte naming ChaCha20, an unknown PRG, a longer body.
        non_canonical(&[1, 2, 1, 0, 0, 0, 0]);
        non_canonical(&[1, 2, 1, 0, 0, 0, 2]);
        non_canonical(&[1, 2, 1, 0, 0, 0, 0xff]);
        non_canonical(&[1, 2, 2, 0, 0, 0, 1, 0]);
        non_canonical(&[1, 2, 0, 0, 0, 0]);
        // Duplicate extension, unknown type, type 0, too many.
        non_canonical(&[2, 2, 1, 0, 0, 0, 1, 2, 1, 0, 0, 0, 1]);
        non_canonical(&[1, 3, 0, 0, 0, 0]);
        non_canonical(&[1, 0, 0, 0, 0, 0]);
        non_canonical(&[3, 1, 0, 0, 0, 0]);
    }

    #[test]
    fn prg_and_dp_extensions_go_in_type_order() {
        let dp = crate::dp::DpConfig::new(1.0, 1e-5, 1.0, 100, 20, 10).unwrap();
        let m = u32::try_from(dp.padded_dim().unwrap()).unwrap();
        let plain = Params::new(10, 6, 20, m, Graph::Complete).unwrap();
        let p = plain.clone().with_dp(&dp).unwrap().with_prg(Prg::Aes128Ctr);
        let bytes = p.to_bytes();
        let back = Params::decode(&bytes).unwrap();
        assert_eq!((back.dp(), back.prg()), (Some(dp), Prg::Aes128Ctr));
        assert_eq!(back, p);
        // The same two extensions in the wrong order are refused.
        let body = dp.to_bytes();
        let len = u32::try_from(body.len()).unwrap().to_le_bytes();
        let mut dp_ext = vec![1u8];
        dp_ext.extend_from_slice(&len);
        dp_ext.extend_from_slice(&body);
        let prg_ext = [2u8, 1, 0, 0, 0, 1];
        let mut right = vec![2u8];
        right.extend_from_slice(&dp_ext);
        right.extend_from_slice(&prg_ext);
        assert_eq!(with_extensions(&plain, &right), bytes);
        let mut wrong = vec![2u8];
        wrong.extend_from_slice(&prg_ext);
        wrong.extend_from_slice(&dp_ext);
        assert_eq!(
            Params::decode(&with_extensions(&plain, &wrong)),
            Err(Error::Decode(DecodeError::NonCanonical))
        );
    }
}
