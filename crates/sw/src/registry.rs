//! Encrypted attachments registered by tabs: `(session, id) → EncryptedFile` (keys in worker
//! memory only). The fetch path that uses them is `encrypted/mod.rs`.
//!
//! The worker's wasm reads only the file's `url` (where the ciphertext is); the rest of the file
//! is kept as the tab sent it (JSON text) for the on-demand decryption module
//! (`crates/sw-crypto`), which validates it and holds the only code that reads the key.

use authmedia_core::MxcUri;

/// At most this many registrations are kept (oldest first out; the tab is asked again).
const MAX_FILES: usize = 1024;

/// One registered file.
#[derive(Debug, Clone)]
pub struct Registered {
    id: String,
    /// The session key (`sessions::Principal::key`) it was registered under.
    owner: String,
    /// Where the ciphertext is: the file's `url`.
    pub url: MxcUri,
    /// The whole `EncryptedFile` as JSON text: how to verify and decrypt the ciphertext.
    pub file: String,
    /// The type the tab declared (made safe before it is used).
    pub mimetype: Option<String>,
    /// Which file this is, among those registered under the id: a registration with another
    /// file gets a new number, the same file again keeps it. Part of the attachment's store and
    /// flight key, so that the plaintext of an earlier file under the id is never served for it.
    pub generation: u64,
}

/// A file as a tab registers it: its `url`, read and parsed, and the whole file as JSON text.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// The file's `url`.
    pub url: MxcUri,
    /// The whole `EncryptedFile`, as JSON text.
    pub json: String,
}

/// `(session key, id) → EncryptedFile`, in memory only, bounded by `MAX_FILES`.
#[derive(Debug, Default)]
pub struct Registry {
    entries: Vec<Registered>,
    /// The next [`Registered::generation`].
    next: u64,
}

impl Registry {
    /// Records a file for `owner`, replacing an earlier one under the same id.
    pub fn insert(&mut self, owner: &str, id: &str, file: Attachment, mimetype: Option<String>) {
        let same = self
            .entries
            .iter()
            .find(|e| e.id == id && e.owner == owner && e.file == file.json)
            .map(|e| e.generation);
        let generation = same.unwrap_or_else(|| {
            self.next = self.next.wrapping_add(1);
            self.next
        });
        self.entries.retain(|e| !(e.id == id && e.owner == owner));
        if self.entries.len() >= MAX_FILES {
            self.entries.remove(0);
        }
        self.entries.push(Registered {
            id: id.to_owned(),
            owner: owner.to_owned(),
            url: file.url,
            file: file.json,
            mimetype,
            generation,
        });
    }

    /// The file `id` of `owner` (another session's registration is not visible).
    pub fn get(&self, owner: &str, id: &str) -> Option<Registered> {
        self.entries
            .iter()
            .find(|e| e.id == id && e.owner == owner)
            .cloned()
    }

    /// Forgets every key of `owner` (logout).
    pub fn purge_user(&mut self, owner: &str) {
        self.entries.retain(|e| e.owner != owner);
    }

    /// How many files are registered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(byte: u8) -> Attachment {
        Attachment {
            url: MxcUri::parse("mxc://hs/abc").unwrap(),
            json: format!("{{\"n\":{byte}}}"),
        }
    }

    #[test]
    fn registrations_are_per_user_and_purged_at_logout() {
        let mut reg = Registry::default();
        reg.insert("@a:hs", "id1", file(1), Some("image/png".into()));
        reg.insert("@b:hs", "id2", file(2), None);
        assert!(reg.get("@a:hs", "id1").is_some());
        assert!(
            reg.get("@b:hs", "id1").is_none(),
            "another user's id is invisible"
        );
        let first = reg.get("@a:hs", "id1").unwrap().generation;
        reg.insert("@a:hs", "id1", file(1), None);
        assert_eq!(
            reg.get("@a:hs", "id1").unwrap().generation,
            first,
            "the same file"
        );
        reg.insert("@a:hs", "id1", file(3), None);
        assert_eq!(reg.len(), 2, "re-registering replaces");
        assert_eq!(reg.get("@a:hs", "id1").unwrap().file, r#"{"n":3}"#);
        assert_ne!(
            reg.get("@a:hs", "id1").unwrap().generation,
            first,
            "another file"
        );
        reg.purge_user("@a:hs");
        assert!(reg.get("@a:hs", "id1").is_none());
        assert!(reg.get("@b:hs", "id2").is_some());
        for i in 0..MAX_FILES + 5 {
            reg.insert("@b:hs", &format!("x{i}"), file(4), None);
        }
        assert_eq!(reg.len(), MAX_FILES);
        assert!(reg.get("@b:hs", "x0").is_none());
    }
}
