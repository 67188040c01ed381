//! Typed ids: a user, a group, a conversation, a message.
//!
//! Each is a string underneath (the database and the wire see no difference), but a
//! function that takes a `&GroupId` and a `&UserId` cannot be handed the two the
//! wrong way round. A client-supplied id becomes one only through `parse`, at the
//! edge: a REST path parameter that is malformed is refused (404, like an id that
//! names nothing) before any handler, map or database sees it. Ids read back from
//! the database or from a signed token are taken as they are (`from_trusted`).

use std::borrow::Cow;
use std::fmt;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{
    ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Users, groups and conversations are named by an ObjectId's hex (DM ids are made
/// the same shape): 24 lowercase hex digits.
pub const OBJECT_ID_LEN: usize = 24;
pub const OBJECT_ID_PATTERN: &str = "^[0-9a-f]{24}$";
/// A message is named `<conversation>-<seq>`, seq from 1, no leading zeros.
const MESSAGE_ID_PATTERN: &str = "^[0-9a-f]{24}-[1-9][0-9]{0,17}$";
const MESSAGE_SEQ_MAX_DIGITS: usize = 18;

/// The reason a malformed id parameter is refused ends with this, followed by the
/// kind of resource (poem-openapi puts its own words before it); `error::from_poem_error` turns such a refusal into that
/// resource's 404, exactly what an id naming nothing gets.
const MALFORMED_ID: &str = "malformed id of a ";

/// The resource a parameter refused as a malformed id would have named.
pub fn malformed_id_of(reason: &str) -> Option<&str> {
    reason.split_once(MALFORMED_ID).map(|(_, what)| what)
}

/// Whether `raw` has the shape of a user, group or conversation id.
pub fn is_object_id(raw: &str) -> bool {
    raw.len() == OBJECT_ID_LEN
        && raw
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The conversation and seq of a well-formed message id.
fn split_message_id(raw: &str) -> Option<(&str, i64)> {
    let (conversation, seq) = raw.split_once('-')?;
    let digits = !seq.is_empty()
        && seq.len() <= MESSAGE_SEQ_MAX_DIGITS
        && !seq.starts_with('0')
        && seq.bytes().all(|b| b.is_ascii_digit());
    if !(is_object_id(conversation) && digits) {
        return None;
    }
    Some((conversation, seq.parse().ok()?))
}

/// The parts every id type shares: string access, display, serde as a plain string,
/// and the OpenAPI type of a path parameter with its pattern.
macro_rules! string_id {
    ($name:ident, $what:literal, $pattern:expr, $valid:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A client-supplied id, if it is well formed.
            pub fn parse(raw: &str) -> Option<Self> {
                let valid: fn(&str) -> bool = $valid;
                valid(raw).then(|| Self(raw.to_owned()))
            }
            /// An id that came from the database or a signed token, as it is.
            pub fn from_trusted(raw: impl Into<String>) -> Self {
                Self(raw.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn into_inner(self) -> String {
                self.0
            }
        }

        /// Unit tests name ids by literals.
        #[cfg(test)]
        impl From<&str> for $name {
            fn from(raw: &str) -> Self {
                Self(raw.to_owned())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl Type for $name {
            const IS_REQUIRED: bool = true;
            type RawValueType = Self;
            type RawElementValueType = Self;

            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
            fn schema_ref() -> MetaSchemaRef {
                MetaSchemaRef::Inline(Box::new(MetaSchema {
                    pattern: Some($pattern.to_owned()),
                    ..MetaSchema::new("string")
                }))
            }
            fn as_raw_value(&self) -> Option<&Self> {
                Some(self)
            }
            fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
                Box::new(std::iter::once(self))
            }
        }

        impl ParseFromParameter for $name {
            fn parse_from_parameter(value: &str) -> ParseResult<Self> {
                Self::parse(value)
                    .ok_or_else(|| ParseError::custom(format!("{MALFORMED_ID}{}", $what)))
            }
        }

        impl ParseFromJSON for $name {
            fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
                match value {
                    Some(Value::String(raw)) => Self::parse(&raw)
                        .ok_or_else(|| ParseError::custom(format!("{MALFORMED_ID}{}", $what))),
                    other => Err(ParseError::expected_type(other.unwrap_or_default())),
                }
            }
        }

        impl From<$name> for mongodb::bson::Bson {
            fn from(id: $name) -> Self {
                mongodb::bson::Bson::String(id.0)
            }
        }

        impl ToJSON for $name {
            fn to_json(&self) -> Option<Value> {
                Some(Value::String(self.0.clone()))
            }
        }
    };
}

string_id!(
    UserId,
    "user",
    OBJECT_ID_PATTERN,
    is_object_id,
    "A user's id."
);
string_id!(
    GroupId,
    "group",
    OBJECT_ID_PATTERN,
    is_object_id,
    "A group's id (its room's conversation has the same id)."
);
string_id!(
    ConversationId,
    "conversation",
    OBJECT_ID_PATTERN,
    is_object_id,
    "A conversation's id: a group's room or a DM."
);
string_id!(
    MessageId,
    "message",
    MESSAGE_ID_PATTERN,
    |raw| split_message_id(raw).is_some(),
    "A message's id: `<conversation>-<seq>`."
);

/// A new document id: an ObjectId's hex, so ids sort by creation time.
pub fn new_id() -> String {
    mongodb::bson::oid::ObjectId::new().to_hex()
}

impl UserId {
    /// A fresh id, sorting by creation time.
    pub fn generate() -> Self {
        Self(new_id())
    }
}

impl GroupId {
    /// A fresh id, sorting by creation time.
    pub fn generate() -> Self {
        Self(new_id())
    }
    /// The group's room.
    pub fn conversation(&self) -> ConversationId {
        ConversationId(self.0.clone())
    }
}

impl ConversationId {
    /// The group this is the room of, when it is a group's room.
    pub fn as_group(&self) -> GroupId {
        GroupId(self.0.clone())
    }
}

impl MessageId {
    pub fn new(conversation: &ConversationId, seq: i64) -> Self {
        Self(format!("{conversation}-{seq}"))
    }
    /// The conversation and seq this id names.
    pub fn parts(&self) -> Option<(ConversationId, i64)> {
        split_message_id(&self.0).map(|(c, seq)| (ConversationId(c.to_owned()), seq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_ids_are_24_lowercase_hex_digits() {
        let fresh = new_id();
        for good in ["0123456789abcdef01234567", fresh.as_str()] {
            assert!(UserId::parse(good).is_some(), "{good}");
            assert!(GroupId::parse(good).is_some(), "{good}");
            assert!(ConversationId::parse(good).is_some(), "{good}");
        }
        for bad in [
            "",
            "0123456789ABCDEF01234567",
            "0123456789abcdef0123456",
            "0123456789abcdef012345678",
            "0123456789abcdef0123456g",
            "{\"$ne\":null}",
            "../../etc/passwd",
        ] {
            assert!(UserId::parse(bad).is_none(), "{bad:?}");
            assert!(ConversationId::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn message_ids_round_trip_and_refuse_every_other_shape() {
        let conversation = ConversationId::parse("0123456789abcdef01234567").unwrap();
        let id = MessageId::new(&conversation, 42);
        assert_eq!(id.as_str(), "0123456789abcdef01234567-42");
        assert_eq!(MessageId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(id.parts(), Some((conversation, 42)));
        for bad in [
            "",
            "not-an-id",
            "0123456789abcdef01234567",
            "0123456789abcdef01234567-",
            "0123456789abcdef01234567-0",
            "0123456789abcdef01234567-007",
            "0123456789abcdef01234567--1",
            "0123456789abcdef01234567-1-2",
            "0123456789abcdef01234567-1234567890123456789",
            "0123456789ABCDEF01234567-1",
            "abc-1",
        ] {
            assert!(MessageId::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn a_malformed_path_parameter_is_refused_with_the_marked_reason() {
        let err = UserId::parse_from_parameter("nope").unwrap_err();
        assert_eq!(malformed_id_of(err.message()), Some("user"));
        let err = MessageId::parse_from_parameter("nope").unwrap_err();
        assert_eq!(malformed_id_of(err.message()), Some("message"));
        assert_eq!(malformed_id_of("must be a string"), None);
        assert!(UserId::parse_from_parameter("0123456789abcdef01234567").is_ok());
    }
}
