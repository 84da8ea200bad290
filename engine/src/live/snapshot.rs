//! Snapshots: the whole engine's state (every actor's, and what the sequencer follows
//! beside them) encoded to bytes and back. The encoding is MessagePack with field names
//! (`rmp-serde`): compact, exact for money, instants and floats, and read through the same
//! serde attributes as the text forms. A snapshot of another format is refused with the
//! versions named, never misread.

use sha2::Digest;

use super::driver::DriverImage;
use super::journal::{StoreError, StoredSnapshot};
use crate::actors::FleetImage;
use crate::model::Timestamp;

/// The encoding this build writes and reads. Raise it whenever a saved type changes in a
/// way older snapshots cannot be read through (a field removed or retyped; a new field
/// with `#[serde(default)]` needs no change).
pub const FORMAT: i64 = 1;

/// The engine's state after the command a snapshot covers.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EngineImage {
    /// The engine's clock.
    pub at: Timestamp,
    pub driver: DriverImage,
    pub fleet: FleetImage,
}

pub fn encode(image: &EngineImage) -> Result<Vec<u8>, String> {
    rmp_serde::to_vec_named(image).map_err(|e| e.to_string())
}

/// Checks and decodes a stored snapshot.
pub fn decode(stored: &StoredSnapshot) -> Result<EngineImage, StoreError> {
    let bad = |detail: String| StoreError::BadSnapshot {
        covers: stored.covers,
        detail,
    };
    if stored.format != FORMAT {
        return Err(bad(format!(
            "it is in format {} (written by Quartermaster {}); this build ({}) reads format {FORMAT}",
            stored.format,
            stored.build,
            env!("CARGO_PKG_VERSION")
        )));
    }
    if sha2::Sha256::digest(&stored.body).as_slice() != stored.checksum.as_slice() {
        return Err(bad("its checksum does not match its contents".into()));
    }
    rmp_serde::from_slice(&stored.body).map_err(|e| bad(format!("it does not decode: {e}")))
}
