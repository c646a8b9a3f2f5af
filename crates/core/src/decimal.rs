//! Decimal numbers written into a `String` without the formatter: URL building, `Range` and
//! header values in the wasm binaries need nothing else of `core::fmt`. A leaf module: the URL
//! builders (`endpoint`, `homeserver`) and the adapters all use it.

/// Appends `n` in decimal: without the formatter (`to_string`), which the wasm binaries need
/// for nothing else.
pub fn push_decimal(out: &mut String, n: u64) {
    // The largest power of ten not above `n` (1 for 0): its digit is the first one written.
    let mut unit = 1u64;
    while n / unit >= 10 {
        unit *= 10;
    }
    while unit > 0 {
        // `n / unit % 10` < 10: the cast keeps the value.
        out.push(char::from(b'0' + (n / unit % 10) as u8));
        unit /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_decimal_writes_every_u64() {
        for n in [
            0,
            1,
            9,
            10,
            99,
            100,
            65_535,
            4_294_967_296,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut out = String::from("x");
            push_decimal(&mut out, n);
            assert_eq!(out, format!("x{n}"));
        }
    }
}
