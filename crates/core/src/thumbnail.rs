//! Thumbnail sizing: CSS box × devicePixelRatio × method → the size to request.
//!
//! Rules (content repository § Thumbnails,
//! <https://spec.matrix.org/v1.11/client-server-api/#thumbnails>): width and height are
//! the minimum wanted and servers never upscale; servers SHOULD pre-generate the sizes in
//! [`PRESETS`], so asking for one of those exactly maximises cache hits. We therefore:
//! 1. compute the device-pixel need, `ceil(css × dpr)` per axis (a value within 16 ulps of
//!    an integer is that integer, so `100 × 1.1 = 110.00000000000001` stays 110), at least 1;
//! 2. snap up to the smallest preset of the same method that covers the need on both axes;
//! 3. otherwise ask for the exact need.

use crate::endpoint::{Method, Thumbnail};

/// Sizes servers SHOULD pre-generate, smallest first per method.
pub const PRESETS: [(u32, u32, Method); 5] = [
    (32, 32, Method::Crop),
    (96, 96, Method::Crop),
    (320, 240, Method::Scale),
    (640, 480, Method::Scale),
    (800, 600, Method::Scale),
];

/// Why no thumbnail size could be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ThumbnailSizeError {
    /// A CSS width or height that is NaN, infinite or negative.
    #[error("CSS width and height must be finite and not negative")]
    InvalidDimension,
    /// A devicePixelRatio that is NaN, infinite, zero or negative.
    #[error("devicePixelRatio must be finite and greater than 0")]
    InvalidDpr,
    /// The need does not fit in 32 bits.
    #[error("thumbnail size exceeds 4294967295 pixels on one axis")]
    TooLarge,
}

impl ThumbnailSizeError {
    /// A stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidDimension => "invalid_dimension",
            Self::InvalidDpr => "invalid_dpr",
            Self::TooLarge => "too_large",
        }
    }
}

/// The thumbnail to request for a CSS box at a device pixel ratio.
pub fn thumbnail_size(
    css_width: f64,
    css_height: f64,
    dpr: f64,
    method: Method,
) -> Result<Thumbnail, ThumbnailSizeError> {
    let valid_dim = |x: f64| x.is_finite() && x >= 0.0;
    if !valid_dim(css_width) || !valid_dim(css_height) {
        return Err(ThumbnailSizeError::InvalidDimension);
    }
    if !(dpr.is_finite() && dpr > 0.0) {
        return Err(ThumbnailSizeError::InvalidDpr);
    }
    let w = device_pixels(css_width * dpr)?;
    let h = device_pixels(css_height * dpr)?;
    let (width, height) = PRESETS
        .iter()
        .find(|&&(pw, ph, pm)| pm == method && w <= pw && h <= ph)
        .map_or((w, h), |&(pw, ph, _)| (pw, ph));
    Ok(Thumbnail {
        width,
        height,
        method: Some(method),
        animated: None,
    })
}

fn device_pixels(x: f64) -> Result<u32, ThumbnailSizeError> {
    if !x.is_finite() {
        return Err(ThumbnailSizeError::TooLarge);
    }
    // Float noise (`100 × 1.1 = 110.00000000000001`) must not add a pixel: a value within
    // a few ulps of an integer is that integer.
    let nearest = x.round();
    let px = if (x - nearest).abs() <= x.abs() * 16.0 * f64::EPSILON {
        nearest
    } else {
        x.ceil()
    };
    let px = px.max(1.0);
    if px > f64::from(u32::MAX) {
        return Err(ThumbnailSizeError::TooLarge);
    }
    // In range 1..=u32::MAX and integral: the cast is exact.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(px as u32)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
mod tests {
    use super::*;

    #[test]
    fn float_noise_does_not_round_up() {
        let t = thumbnail_size(100.0, 1000.0, 1.1, Method::Scale).unwrap();
        assert_eq!((t.width, t.height), (110, 1100));
    }

    #[test]
    fn never_zero() {
        let t = thumbnail_size(0.0, 0.0, 1.0, Method::Scale).unwrap();
        assert_eq!((t.width, t.height), (320, 240));
    }

    #[test]
    fn huge_is_an_error() {
        assert_eq!(
            thumbnail_size(1e300, 1.0, 1e10, Method::Crop),
            Err(ThumbnailSizeError::TooLarge)
        );
    }
}
