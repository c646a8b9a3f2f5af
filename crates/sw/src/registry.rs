//! Encrypted attachments registered by tabs: `(session, id) → EncryptedFile` (keys in worker
//! memory only). The fetch path that uses them is `encrypted/mod.rs`.

use authmedia_core::EncryptedFile;

/// At most this many registrations are kept (oldest first out; the tab is asked again).
const MAX_FILES: usize = 1024;

/// One registered file.
#[derive(Debug, Clone)]
pub struct Registered {
    id: String,
    /// The session key (`sessions::Principal::key`) it was registered under.
    owner: String,
    /// The file: where the ciphertext is and how to verify and decrypt it.
    pub file: EncryptedFile,
    /// The type the tab declared (made safe before it is used).
    pub mimetype: Option<String>,
}

/// `(session key, id) → EncryptedFile`, in memory only, bounded by `MAX_FILES`.
#[derive(Debug, Default)]
pub struct Registry {
    entries: Vec<Registered>,
}

impl Registry {
    /// Records a file for `owner`, replacing an earlier one under the same id.
    pub fn insert(&mut self, owner: &str, id: &str, file: EncryptedFile, mimetype: Option<String>) {
        self.entries.retain(|e| !(e.id == id && e.owner == owner));
        if self.entries.len() >= MAX_FILES {
            self.entries.remove(0);
        }
        self.entries.push(Registered {
            id: id.to_owned(),
            owner: owner.to_owned(),
            file,
            mimetype,
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

    fn file(byte: u8) -> EncryptedFile {
        authmedia_core::AttachmentSecrets {
            key: [byte; 32],
            iv: [0; 16],
            sha256: [1; 32],
        }
        .with_url(authmedia_core::MxcUri::parse("mxc://hs/abc").unwrap())
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
        reg.insert("@a:hs", "id1", file(3), None);
        assert_eq!(reg.len(), 2, "re-registering replaces");
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
