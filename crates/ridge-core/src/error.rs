//! The one error of this crate: a value from outside did not validate.

/// A client-supplied value was rejected. The message is meant for the user as it is (it becomes an
/// HTTP 400 `faultstring` or a CLI error), so it says what was wrong and what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidInput {
    pub message: String,
}

impl InvalidInput {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}
