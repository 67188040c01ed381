//! `Text`: a request field that accepts a JSON string and nothing else.
//!
//! poem-openapi's `String` also accepts numbers and booleans (`{"name": false}`
//! becomes `"false"`), which the spec does not allow and which hides client bugs.

use std::borrow::Cow;
use std::ops::Deref;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::Value;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text(pub String);

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Type for Text {
    const IS_REQUIRED: bool = true;
    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        "string".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new("string")))
    }

    fn as_raw_value(&self) -> Option<&String> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl ParseFromJSON for Text {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(text)) => Ok(Self(text)),
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

impl ToJSON for Text {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_json_strings_are_text() {
        assert_eq!(
            Text::parse_from_json(Some(json!("hi"))).ok(),
            Some(Text("hi".into()))
        );
        for not_text in [
            json!(false),
            json!(12),
            json!(null),
            json!(["x"]),
            json!({ "$gt": "" }),
        ] {
            assert!(
                Text::parse_from_json(Some(not_text.clone())).is_err(),
                "{not_text}"
            );
        }
        assert!(Text::parse_from_json(None).is_err());
    }
}
