//! Secret values: zeroized on drop, redacted in `Debug`, compared in constant
//! time.

use core::fmt;

use curve25519_dalek::Scalar;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A secret scalar (a mask-key secret or a self-mask seed).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct SecretScalar(pub(crate) Scalar);

impl fmt::Debug for SecretScalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretScalar(<redacted>)")
    }
}

impl PartialEq for SecretScalar {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for SecretScalar {}
