//! The one error of this crate: why a consumer's session with its broker ended.

#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("broker: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("the broker cancelled the consumer (the queue was deleted?)")]
    ConsumerCancelled,
    #[error("the broker refused a message published to exchange `{exchange}`")]
    PublishRefused { exchange: String },
}
