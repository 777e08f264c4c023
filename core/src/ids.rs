//! Typed identifiers. All are UUIDs; entries and replies use UUIDv7 so they sort by time.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::Error;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new, time-ordered id (UUIDv7).
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            pub fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }
            pub fn from_bytes(b: [u8; 16]) -> Self {
                Self(Uuid::from_bytes(b))
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                Uuid::parse_str(s.trim())
                    .map(Self)
                    .map_err(|_| Error::invalid($what, "not a valid id"))
            }
        }

        // Apps see the id as a string (a hyphenated UUID); a malformed one handed in is
        // `InvalidInput`, like any other bad argument.
        #[cfg(feature = "uniffi")]
        uniffi::custom_type!($name, String, {
            lower: |id| id.to_string(),
            try_lift: |s| Ok(s.parse::<$name>().map_err(crate::DuetError::from)?),
        });
    };
}

id_type!(
    /// A space: a shared journal or a personal space.
    SpaceId, "journal id"
);
id_type!(
    /// One entry (one Automerge document).
    EntryId, "entry id"
);
id_type!(
    /// A person. Shared by all of that person's devices.
    MemberId, "member id"
);
id_type!(
    /// One device (one local store). Its bytes are the Automerge actor id.
    DeviceId, "device id"
);
id_type!(
    /// A reply inside an entry.
    ReplyId, "reply id"
);

id_type!(
    /// An attachment of an entry.
    AttachmentId, "attachment id"
);

/// A device's id at the relay (given when it registers; not its [`DeviceId`]).
pub type RelayDeviceId = Uuid;

// A string to apps, like the ids above.
#[cfg(feature = "uniffi")]
uniffi::custom_type!(RelayDeviceId, String, {
    remote,
    lower: |id| id.hyphenated().to_string(),
    try_lift: |s| {
        let bad = |_| crate::DuetError::from(Error::invalid("device id", "not a valid id"));
        Ok(Uuid::parse_str(s.trim()).map_err(bad)?)
    },
});
