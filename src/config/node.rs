//! The JSON-path cursor: a JSON value with the path that reached it, so that readers can say
//! `AzureAd.ClientCredentials[1].CertificateDiskPath: expected a string, found a number`. Keys match
//! ignoring ASCII case, and scalars are read the lenient way .NET configuration reads them.

use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};

/// A JSON value with the path that reached it, for error messages.
pub(super) struct Node<'a> {
    value: &'a Value,
    pub path: String,
}

impl<'a> Node<'a> {
    /// The JSON value itself.
    pub(super) fn value(&self) -> &'a Value {
        self.value
    }

    pub fn root(value: &'a Value) -> Self {
        Node {
            value,
            path: String::new(),
        }
    }

    /// A named root for per-call overrides, so messages say "overrides.HttpMethod".
    pub fn named(value: &'a Value, name: &str) -> Self {
        Node {
            value,
            path: name.to_string(),
        }
    }

    pub(super) fn join(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    pub(super) fn type_error(&self, expected: &str) -> Error {
        let found = match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        };
        let path = if self.path.is_empty() {
            "(root)"
        } else {
            &self.path
        };
        Error::new(
            ErrorKind::Config,
            format!("{path}: expected {expected}, found {found}"),
        )
    }

    pub fn expect_object(&self) -> Result<()> {
        match self.value {
            Value::Object(_) => Ok(()),
            _ => Err(self.type_error("an object")),
        }
    }

    /// The member whose key equals `key` ignoring ASCII case; JSON null counts as absent.
    pub fn child(&self, key: &str) -> Option<Node<'a>> {
        let Value::Object(map) = self.value else {
            return None;
        };
        map.iter()
            .find(|(name, value)| name.eq_ignore_ascii_case(key) && !value.is_null())
            .map(|(name, value)| Node {
                value,
                path: self.join(name),
            })
    }

    /// Whether the member `key` (ignoring ASCII case) is present with a JSON null.
    pub(super) fn is_null(&self, key: &str) -> bool {
        matches!(self.value, Value::Object(map)
            if map.iter().any(|(name, value)| name.eq_ignore_ascii_case(key) && value.is_null()))
    }

    pub(super) fn child_any(&self, keys: &[&str]) -> Option<Node<'a>> {
        keys.iter().find_map(|key| self.child(key))
    }

    pub fn entries(&self) -> Result<Vec<(&'a str, Node<'a>)>> {
        let Value::Object(map) = self.value else {
            return Err(self.type_error("an object"));
        };
        Ok(map
            .iter()
            .map(|(key, value)| {
                (
                    key.as_str(),
                    Node {
                        value,
                        path: self.join(key),
                    },
                )
            })
            .collect())
    }

    /// The items of an array with their indexes; nulls are skipped, as .NET configuration binds
    /// sparse indexes (`ClientCredentials__2__...` alone) without gaps.
    pub(super) fn items(&self) -> Result<Vec<(usize, Node<'a>)>> {
        let Value::Array(items) = self.value else {
            return Err(self.type_error("an array"));
        };
        Ok(items
            .iter()
            .enumerate()
            .filter(|(_, value)| !value.is_null())
            .map(|(index, value)| {
                let node = Node {
                    value,
                    path: format!("{}[{index}]", self.path),
                };
                (index, node)
            })
            .collect())
    }

    /// Strings, numbers and booleans as text (.NET configuration's view of scalars).
    pub(super) fn as_scalar_string(&self) -> Option<String> {
        match self.value {
            Value::String(text) => Some(text.clone()),
            Value::Number(number) => Some(number.to_string()),
            Value::Bool(flag) => Some(flag.to_string()),
            _ => None,
        }
    }

    pub fn string(&self, key: &str) -> Result<Option<String>> {
        match self.child(key) {
            None => Ok(None),
            Some(node) => match node.value {
                Value::String(text) => Ok(Some(text.clone())),
                _ => Err(node.type_error("a string")),
            },
        }
    }

    pub fn boolean(&self, key: &str) -> Result<Option<bool>> {
        let Some(node) = self.child(key) else {
            return Ok(None);
        };
        match node.value {
            Value::Bool(flag) => Ok(Some(*flag)),
            Value::String(text) if text.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Value::String(text) if text.eq_ignore_ascii_case("false") => Ok(Some(false)),
            _ => Err(node.type_error("true or false")),
        }
    }

    pub fn number(&self, key: &str) -> Result<Option<f64>> {
        let Some(node) = self.child(key) else {
            return Ok(None);
        };
        match node.value {
            Value::Number(number) => Ok(number.as_f64()),
            Value::String(text) => text
                .trim()
                .parse::<f64>()
                .map(Some)
                .map_err(|_| node.type_error("a number")),
            _ => Err(node.type_error("a number")),
        }
    }

    /// An array of strings, or one string of space-separated values (as scopes are often written).
    pub(super) fn string_list(&self) -> Result<Vec<String>> {
        match self.value {
            Value::String(text) => Ok(text.split_whitespace().map(str::to_string).collect()),
            Value::Array(_) => self
                .items()?
                .into_iter()
                .map(|(_, item)| match item.value {
                    Value::String(text) => Ok(text.clone()),
                    _ => Err(item.type_error("a string")),
                })
                .collect(),
            _ => Err(self.type_error("an array of strings")),
        }
    }
}
