//! PLACEHOLDER until the real module lands.
use curve25519_dalek::Scalar;
use rand_core::CryptoRng;
#[derive(Clone, Debug)]
pub(crate) struct Share { pub(crate) x: u32, pub(crate) y: Scalar }
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ShamirError { InvalidArguments, NotEnoughShares { have: usize, need: usize }, NoConsistentSet }
pub(crate) struct Recovered { pub(crate) secret: Scalar, pub(crate) bad: Vec<u32> }
pub(crate) fn random_scalar<R: CryptoRng + ?Sized>(rng: &mut R) -> Scalar {
    let mut b = [0u8; 64]; rng.fill_bytes(&mut b); Scalar::from_bytes_mod_order_wide(&b)
}
pub(crate) fn split<R: CryptoRng + ?Sized>(secret: &Scalar, threshold: usize, xs: &[u32], rng: &mut R) -> Result<Vec<Share>, ShamirError> {
    let coeffs: Vec<Scalar> = (1..threshold).map(|_| random_scalar(rng)).collect();
    Ok(xs.iter().map(|&x| { let xs = Scalar::from(x); let mut y = Scalar::ZERO; for c in coeffs.iter().rev() { y = (y + c) * xs; } Share { x, y: y + secret } }).collect())
}
pub(crate) fn interpolate_at_zero(shares: &[Share]) -> Result<Scalar, ShamirError> {
    let mut acc = Scalar::ZERO;
    for (i, si) in shares.iter().enumerate() {
        let mut num = Scalar::ONE; let mut den = Scalar::ONE;
        for (j, sj) in shares.iter().enumerate() { if i != j { num *= Scalar::from(sj.x); den *= Scalar::from(sj.x) - Scalar::from(si.x); } }
        acc += si.y * num * den.invert();
    }
    Ok(acc)
}
pub(crate) fn reconstruct_verified(shares: &[Share], threshold: usize, mut verify: impl FnMut(&Scalar) -> bool) -> Result<Recovered, ShamirError> {
    if shares.len() < threshold { return Err(ShamirError::NotEnoughShares { have: shares.len(), need: threshold }); }
    let s = interpolate_at_zero(&shares[..threshold])?;
    if verify(&s) { Ok(Recovered { secret: s, bad: vec![] }) } else { Err(ShamirError::NoConsistentSet) }
}
