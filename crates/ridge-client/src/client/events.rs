//! Event triggers (`/v1/event_triggers`, Ridge's own; docs/events.md).

use reqwest::Method;
use ridge_core::api::{EventTriggerList, EventTriggerRequest, EventTriggerView};

use super::RidgeClient;
use crate::ClientError;

impl RidgeClient {
    /// `POST /v1/event_triggers`.
    pub async fn create_event_trigger(
        &self,
        body: &EventTriggerRequest,
    ) -> Result<EventTriggerView, ClientError> {
        self.json(
            self.request(Method::POST, &["v1", "event_triggers"])
                .json(body),
        )
        .await
    }

    pub async fn list_event_triggers(&self) -> Result<Vec<EventTriggerView>, ClientError> {
        let list: EventTriggerList = self
            .json(self.request(Method::GET, &["v1", "event_triggers"]))
            .await?;
        Ok(list.event_triggers)
    }

    pub async fn get_event_trigger(&self, id: &str) -> Result<EventTriggerView, ClientError> {
        self.json(self.request(Method::GET, &["v1", "event_triggers", id]))
            .await
    }

    pub async fn update_event_trigger(
        &self,
        id: &str,
        body: &EventTriggerRequest,
    ) -> Result<EventTriggerView, ClientError> {
        self.json(
            self.request(Method::PUT, &["v1", "event_triggers", id])
                .json(body),
        )
        .await
    }

    pub async fn delete_event_trigger(&self, id: &str) -> Result<(), ClientError> {
        self.empty(self.request(Method::DELETE, &["v1", "event_triggers", id]))
            .await
    }

    /// `POST /v1/event_triggers/{id}/pause` (`pause: true`) or `.../resume`.
    pub async fn pause_event_trigger(
        &self,
        id: &str,
        pause: bool,
    ) -> Result<EventTriggerView, ClientError> {
        let action = if pause { "pause" } else { "resume" };
        self.json(self.request(Method::POST, &["v1", "event_triggers", id, action]))
            .await
    }
}
