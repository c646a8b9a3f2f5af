//! authmedia core: the sans-IO decisions behind authenticated Matrix media (MSC3916,
//! spec v1.11).
//!
//! No I/O, no clock, no JavaScript: inputs are strings, parsed bodies and `now_ms`
//! arguments; outputs are validated identifiers, URLs, enums and decisions. The wasm
//! adapters (`authmedia-sw`, `authmedia-web`) and the `authmedia` CLI act on them.
//!
//! | module | concern |
//! |---|---|
//! | [`mxc`] | [`MxcUri`], [`ServerName`], [`MediaId`] |
//! | [`homeserver`] | [`Homeserver`]: origin + optional path prefix |
//! | [`endpoint`] | [`Api`], [`MediaRequest`], [`media_url`] |
//! | [`versions`] | [`negotiate`] a `/versions` body, [`NegotiationCache`] |
//! | [`classify`](mod@classify) | [`classify()`] a request URL |
//! | [`thumbnail`] | [`thumbnail_size`] |
//! | [`code`] | [`ClientCode`]: the one list of failure codes the app sees |
//! | [`error`] | [`MatrixError`], [`ErrorKind`] |
//! | [`gate`] | what may carry the token: [`admit_request`], [`CanonicalUrl`], [`authorize`] |
//! | [`fingerprint`] | [`token_fingerprint`]: which token was refused, without the token |
//! | [`lifecycle`] | [`Lifecycle`]: send → retry/refresh/fall back → deliver or fail, as a state machine |
//! | [`retry`] | [`RetryPolicy`]: retry or give up after a failed request, and how long to wait |
//! | [`attachment`] | [`EncryptedFile`]: verify and decrypt encrypted attachments |
//! | `probe` (feature `json`) | rollout readiness: observed answers of a homeserver → verdicts |
#![deny(missing_docs)]

pub mod attachment;
pub mod classify;
pub mod code;
pub mod decimal;
pub mod endpoint;
pub mod error;
pub mod fingerprint;
pub mod gate;
pub mod homeserver;
pub mod lifecycle;
mod map_only;
pub mod mxc;
#[cfg(feature = "json")]
pub mod probe;
pub mod retry;
pub mod safe_type;
pub mod thumbnail;
pub mod versions;

pub use attachment::{
    decrypt, decrypt_in_place, encrypt, encrypt_in_place, AttachmentDecryptor, AttachmentError,
    AttachmentSecrets, Decryptor, EncryptedFile, Verifier,
};
pub use classify::{classify, Classification, MediaMatch, Route};
pub use code::{ClientCode, UnknownClientCode};
pub use decimal::push_decimal;
pub use endpoint::{media_url, Api, MediaRequest, Method, ParseNameError, Thumbnail};
pub use error::{ErrorBody, ErrorKind, MatrixError};
pub use fingerprint::token_fingerprint;
pub use gate::{admit_request, authorize, CanonicalUrl, Pass, Refusal};
pub use homeserver::{Homeserver, HomeserverError};
pub use lifecycle::{Action, Ending, Lifecycle};
pub use mxc::{MediaId, MxcError, MxcUri, ServerName};
pub use retry::{Decision, Failure, RetryPolicy};
pub use safe_type::{safe_content_type, OCTET_STREAM};
pub use thumbnail::{thumbnail_size, ThumbnailSizeError};
pub use versions::{negotiate, NegotiationCache, Versions, VersionsError};

/// The version of the page ↔ worker message protocol, sent both ways in the session handshake
/// (`protocol`). A page and a worker that give different numbers cannot work together: the worker
/// files are copied into each site by hand, so an update of the page SDK may meet an old copy.
/// Raise it whenever a message or a reply changes in a way the other side depends on.
pub const WORKER_PROTOCOL: u32 = 1;
