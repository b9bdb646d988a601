//! L2 clipping (spec/dp.md section 2.3).

use super::DpError;

/// The L2 norm, computed without intermediate overflow (scaled by the
/// largest magnitude): infinite only when the norm itself exceeds
/// `f64::MAX`.
///
/// ```
/// use secagg::dp::clip::l2_norm;
/// assert_eq!(l2_norm(&[3.0, 4.0])?, 5.0);
/// assert!(l2_norm(&[1e300, 1e300])?.is_finite());
/// assert!(l2_norm(&[f64::NAN]).is_err());
/// # Ok::<(), secagg::dp::DpError>(())
/// ```
///
/// # Errors
/// [`DpError::NonFiniteInput`] for a NaN or infinite element.
pub fn l2_norm(x: &[f64]) -> Result<f64, DpError> {
    let mut max = 0.0f64;
    for v in x {
        if !v.is_finite() {
            return Err(DpError::NonFiniteInput);
        }
        max = max.max(v.abs());
    }
    if max == 0.0 {
        return Ok(0.0);
    }
    let sum: f64 = x.iter().map(|v| (v / max) * (v / max)).sum();
    Ok(max * sum.sqrt())
}

/// Scales `x` down to L2 norm `clip` when it is longer: `x <- x min(1,
/// clip / ||x||)`. Returns the norm before clipping.
///
/// ```
/// let mut x = vec![3.0, 4.0];
/// assert_eq!(secagg::dp::clip::clip_l2(&mut x, 1.0)?, 5.0);
/// assert!((x[0] - 0.6).abs() < 1e-15 && (x[1] - 0.8).abs() < 1e-15);
/// # Ok::<(), secagg::dp::DpError>(())
/// ```
///
/// # Errors
/// [`DpError::NonFiniteInput`] for a NaN or infinite element,
/// [`DpError::Clip`] for a clip that is not positive and finite.
pub fn clip_l2(x: &mut [f64], clip: f64) -> Result<f64, DpError> {
    super::check_clip(clip)?;
    let norm = l2_norm(x)?;
    if norm > clip {
        let f = clip / norm;
        if f.is_normal() {
            x.iter_mut().for_each(|v| *v *= f);
        } else {
            // The norm exceeds f64::MAX (finite elements near it), or the
            // factor underflows (a tiny clip of a huge vector): either way
            // `x * f` would lose the direction (all zeros). Divide by the
            // largest magnitude first (every element is then in [-1, 1],
            // the norm in [1, sqrt(len)]), then clip.
            let max = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            x.iter_mut().for_each(|v| *v /= max);
            let f = clip / l2_norm(x)?;
            x.iter_mut().for_each(|v| *v *= f);
        }
        // Rounding can leave the norm an ulp above the clip: shave it.
        let after = l2_norm(x)?;
        if after > clip {
            let g = clip / after * (1.0 - f64::EPSILON);
            x.iter_mut().for_each(|v| *v *= g);
        }
    }
    Ok(norm)
}
