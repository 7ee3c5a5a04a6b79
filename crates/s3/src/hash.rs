//! One pass over a byte stream through SHA-256 and MD5, in whatever chunks the stream yields:
//! memory stays bounded by one chunk whatever the object's size.

use md5::Md5;
use sha2::{Digest, Sha256};
use stowage_domain::content::{ContentDigest, Sha256Hex};

/// Running SHA-256 and MD5 of the bytes seen so far.
#[derive(Default)]
pub(crate) struct Hasher {
    sha256: Sha256,
    md5: Md5,
    bytes: u64,
}

impl Hasher {
    pub(crate) fn update(&mut self, chunk: &[u8]) {
        self.sha256.update(chunk);
        self.md5.update(chunk);
        self.bytes += chunk.len() as u64;
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    pub(crate) fn finish(self) -> ContentDigest {
        let sha: [u8; 32] = self.sha256.finalize().into();
        ContentDigest {
            sha256: Sha256Hex::from_bytes(&sha),
            md5_hex: hex::encode(self.md5.finalize()),
            bytes: self.bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_of_known_inputs() {
        let mut h = Hasher::default();
        let d = std::mem::take(&mut h).finish();
        assert_eq!(d.sha256.as_str(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(d.md5_hex, "d41d8cd98f00b204e9800998ecf8427e");
        h.update(b"ab");
        h.update(b"c");
        let d = h.finish();
        assert_eq!(d.sha256.as_str(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(d.md5_hex, "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(d.bytes, 3);
    }
}
