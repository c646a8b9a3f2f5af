//! The client codes: the one list of machine codes a failure carries to the app — the page SDK's
//! `AuthMediaError.code`, a mounted element's `data-authmedia-error`, the worker's
//! `authmedia_code` (JSON body) and `authmedia-code` (header) of its error answers.
//!
//! The same failure has the same code in worker mode and in the fallback. The TypeScript union
//! `AuthMediaErrorCode` (`npm/index.d.ts`) is checked against [`ClientCode::PAGE`] by a test, and
//! the worker-only codes never reach an `AuthMediaError` (the page maps them, see
//! [`ClientCode::for_page`]).

use core::fmt;
use core::str::FromStr;

/// A stable machine code of a failure (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClientCode {
    /// Not a valid `mxc://` URI (or homeserver media URL).
    InvalidMxc,
    /// An argument of the wrong type or value.
    InvalidArgument,
    /// The homeserver refused the token (missing, unknown, expired).
    Unauthorized,
    /// The homeserver refused the user (`M_FORBIDDEN`).
    Forbidden,
    /// No such media.
    NotFound,
    /// The homeserver says the media is too large.
    TooLarge,
    /// Larger than the byte budget: the fallback's `budgetBytes` (use `download()`), or for an
    /// encrypted attachment's ciphertext the worker's `storeBudgetBytes` too.
    OverBudget,
    /// Rate limited (`M_LIMIT_EXCEEDED`), after the retries.
    RateLimited,
    /// Uploaded asynchronously and not there yet (`M_NOT_YET_UPLOADED`), after the retries.
    NotYetUploaded,
    /// The homeserver does not know the endpoint (`M_UNRECOGNIZED`).
    Unsupported,
    /// Any other homeserver error.
    ServerError,
    /// The homeserver could not be reached (after the retries).
    Network,
    /// The homeserver stopped answering within the deadline.
    Timeout,
    /// The session ended (`logout()`).
    LoggedOut,
    /// No service worker can serve the page and `fallback: 'never'`.
    NoWorker,
    /// An API used before `initAsync()` resolved.
    NotInitialized,
    /// The page wasm could not be loaded.
    WasmLoadFailed,
    /// A media element failed and nobody knows why (worker mode, worker restarted).
    LoadFailed,
    /// An encrypted attachment's ciphertext does not match its hash.
    HashMismatch,
    /// Worker: the request was cancelled (every page request went away, or logout).
    Cancelled,
    /// Worker: something that should not happen (a `Response` it could not build).
    Internal,
    /// Worker: its wasm could not be loaded.
    WasmUnavailable,
    /// Worker: the tab has no session.
    NoSession,
    /// Worker: a navigation or a non-media destination under the encrypted prefix.
    NotMediaRequest,
}

impl ClientCode {
    /// Every code, page and worker.
    pub const ALL: [ClientCode; 24] = [
        Self::InvalidMxc,
        Self::InvalidArgument,
        Self::Unauthorized,
        Self::Forbidden,
        Self::NotFound,
        Self::TooLarge,
        Self::OverBudget,
        Self::RateLimited,
        Self::NotYetUploaded,
        Self::Unsupported,
        Self::ServerError,
        Self::Network,
        Self::Timeout,
        Self::LoggedOut,
        Self::NoWorker,
        Self::NotInitialized,
        Self::WasmLoadFailed,
        Self::LoadFailed,
        Self::HashMismatch,
        Self::Cancelled,
        Self::Internal,
        Self::WasmUnavailable,
        Self::NoSession,
        Self::NotMediaRequest,
    ];

    /// The codes an `AuthMediaError` or `data-authmedia-error` carries (`AuthMediaErrorCode`).
    pub const PAGE: [ClientCode; 19] = [
        Self::InvalidMxc,
        Self::InvalidArgument,
        Self::Unauthorized,
        Self::Forbidden,
        Self::NotFound,
        Self::TooLarge,
        Self::OverBudget,
        Self::RateLimited,
        Self::NotYetUploaded,
        Self::Unsupported,
        Self::ServerError,
        Self::Network,
        Self::Timeout,
        Self::LoggedOut,
        Self::NoWorker,
        Self::NotInitialized,
        Self::WasmLoadFailed,
        Self::LoadFailed,
        Self::HashMismatch,
    ];

    /// The snake_case code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidMxc => "invalid_mxc",
            Self::InvalidArgument => "invalid_argument",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::TooLarge => "too_large",
            Self::OverBudget => "over_budget",
            Self::RateLimited => "rate_limited",
            Self::NotYetUploaded => "not_yet_uploaded",
            Self::Unsupported => "unsupported",
            Self::ServerError => "server_error",
            Self::Network => "network",
            Self::Timeout => "timeout",
            Self::LoggedOut => "logged_out",
            Self::NoWorker => "no_worker",
            Self::NotInitialized => "not_initialized",
            Self::WasmLoadFailed => "wasm_load_failed",
            Self::LoadFailed => "load_failed",
            Self::HashMismatch => "hash_mismatch",
            Self::Cancelled => "cancelled",
            Self::Internal => "internal",
            Self::WasmUnavailable => "wasm_unavailable",
            Self::NoSession => "no_session",
            Self::NotMediaRequest => "not_media_request",
        }
    }

    /// Whether loading again may pass without anything else changing (`retryFailed()`): a
    /// network error, a stall, rate limiting, a server error, media not uploaded yet, or an
    /// unknown failure. A missing or forbidden item, a refused token, a wrong argument or a
    /// tampered file fail the same way again.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::Network
                | Self::LoadFailed
                | Self::Timeout
                | Self::RateLimited
                | Self::ServerError
                | Self::NotYetUploaded
        )
    }

    /// The code a page shows for this one: worker-only codes become the page's (`cancelled`,
    /// `internal`, `wasm_unavailable`, `no_session`, `not_media_request` → `load_failed`).
    pub fn for_page(self) -> ClientCode {
        if Self::PAGE.contains(&self) {
            self
        } else {
            Self::LoadFailed
        }
    }
}

impl fmt::Display for ClientCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is no client code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown client code")]
pub struct UnknownClientCode;

impl FromStr for ClientCode {
    type Err = UnknownClientCode;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or(UnknownClientCode)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_and_is_unique() {
        for (i, c) in ClientCode::ALL.iter().enumerate() {
            assert_eq!(c.as_str().parse::<ClientCode>().unwrap(), *c);
            assert!(ClientCode::ALL[..i]
                .iter()
                .all(|d| d.as_str() != c.as_str()));
        }
        assert!(ClientCode::PAGE.iter().all(|c| ClientCode::ALL.contains(c)));
        assert_eq!("nope".parse::<ClientCode>(), Err(UnknownClientCode));
    }

    #[test]
    fn retryable_and_page_mapping() {
        let retryable: Vec<&str> = ClientCode::ALL
            .iter()
            .filter(|c| c.is_retryable())
            .map(|c| c.as_str())
            .collect();
        assert_eq!(
            retryable,
            [
                "rate_limited",
                "not_yet_uploaded",
                "server_error",
                "network",
                "timeout",
                "load_failed"
            ]
        );
        assert_eq!(ClientCode::Cancelled.for_page(), ClientCode::LoadFailed);
        assert_eq!(
            ClientCode::HashMismatch.for_page(),
            ClientCode::HashMismatch
        );
    }
}
