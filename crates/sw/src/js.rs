//! Reading plain JavaScript objects (`JSON.parse` output, messages) into core types: the shared
//! [`authmedia_js`] crate (also used by the page SDK), under the names this crate uses.

pub(crate) use authmedia_js::{
    error_body, get, get_string as string, object_of as object, set, versions,
};
