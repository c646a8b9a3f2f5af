//! A short fingerprint of an access token, so that one side of the page ↔ worker channel can say
//! *which* token the homeserver refused without sending it: the worker's `authmedia:need-token`
//! carries the fingerprint of the token it used, and the page refreshes only when that is its
//! current token's (a newer one is answered as it is: a second refresh would rotate the app's
//! refresh token behind its back).
//!
//! 32-bit FNV-1a over the token's UTF-8 bytes: both sides must compute the same number, it only
//! needs to tell two tokens of one session apart (a collision costs one needless refresh, as
//! before fingerprints), and 32 bits of a long random token give nothing away — the number never
//! leaves the origin, whose worker and page hold the token anyway. It fits a JavaScript number
//! exactly.

/// The fingerprint of `token` (see the module docs).
pub fn token_fingerprint(token: &str) -> u32 {
    const OFFSET: u32 = 0x811c_9dc5;
    const PRIME: u32 = 0x0100_0193;
    token
        .bytes()
        .fold(OFFSET, |hash, b| (hash ^ u32::from(b)).wrapping_mul(PRIME))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_32_reference_values() {
        // The published FNV-1a 32-bit test values.
        assert_eq!(token_fingerprint(""), 0x811c_9dc5);
        assert_eq!(token_fingerprint("a"), 0xe40c_292c);
        assert_eq!(token_fingerprint("foobar"), 0xbf9c_f968);
    }

    #[test]
    fn tokens_of_one_session_differ() {
        let t1 = "syt_YWxpY2U_FJsDSDUQLLTczQWcREcb_3BadvN";
        let t2 = "syt_YWxpY2U_elQyzLLOWSEzdxaeVecL_4323tG";
        assert_eq!(token_fingerprint(t1), token_fingerprint(t1));
        assert_ne!(token_fingerprint(t1), token_fingerprint(t2));
        // One character apart.
        assert_ne!(token_fingerprint("tokenA"), token_fingerprint("tokenB"));
    }
}
