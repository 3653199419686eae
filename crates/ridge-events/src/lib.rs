//! Ridge's event triggers: AMQP 0-9-1 (RabbitMQ) consumers that run a function, a version or
//! an alias for each message, through [`ridge_engine::Engine::start`] like any other execution
//! (admitted against the project's quotas), and acknowledge a message only once its execution
//! ended `success` (at least once). Failures are retried with backoff up to the trigger's
//! `max_retries`, then dead-lettered. OpenStack notifications are unwrapped and filtered by
//! event type ([`ridge_core::notification`]).
//!
//! [`Supervisor`] keeps this node's consumers in step with the store; [`plan`] holds the pure
//! decisions. The API (`/v1/event_triggers`) and the sealing of broker URLs are `ridge-api`'s;
//! this crate only reads triggers and reports their state. It is kept apart from the engine so
//! that the AMQP client builds only into the binary.

mod consumer;
mod delivery;
mod error;
pub mod plan;
mod supervisor;

pub use error::EventsError;
pub use supervisor::{EventsConfig, OpenUrl, Supervisor};
