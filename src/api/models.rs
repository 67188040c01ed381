//! Response and request shapes shared by several tags.

use poem_openapi::Object;

use crate::domain::Role;
use crate::store::users::UserDoc;

pub type Timestamp = chrono::DateTime<chrono::Utc>;

pub fn timestamp(dt: mongodb::bson::DateTime) -> Timestamp {
    chrono::DateTime::from_timestamp_millis(dt.timestamp_millis()).unwrap_or_default()
}

/// A user's public profile.
#[derive(Debug, Clone, Object)]
pub struct User {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub created_at: Timestamp,
    /// Whether the user has a live connection (present in lookups of other users).
    #[oai(skip_serializing_if_is_none)]
    pub online: Option<bool>,
}

impl From<&UserDoc> for User {
    fn from(doc: &UserDoc) -> Self {
        Self {
            id: doc.id.clone(),
            username: doc.username.clone(),
            display_name: doc.display_name.clone(),
            role: doc.role,
            created_at: timestamp(doc.created_at),
            online: None,
        }
    }
}

/// A page of users.
#[derive(Debug, Object)]
pub struct UserPage {
    pub items: Vec<User>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}
