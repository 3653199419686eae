//! Versions, aliases, webhooks and jobs (QINLING-API.md §3.4, §3.5, §3.7, §3.8).

use bytes::Bytes;
use reqwest::Method;
use ridge_core::api::{
    AliasList, AliasView, CreateAlias, CreateJob, CreateVersion, InvokeView, JobList, JobView,
    UpdateAlias, UpdateJob, VersionList, VersionView, WebhookList, WebhookRequest, WebhookView,
};
use serde_json::{Map, Value};

use super::RidgeClient;
use crate::ClientError;

impl RidgeClient {
    // Versions.

    /// `POST /v1/functions/{id}/versions`: snapshot the function's current code.
    pub async fn create_version(
        &self,
        function_id: &str,
        description: Option<String>,
    ) -> Result<VersionView, ClientError> {
        let body = CreateVersion { description };
        self.json(
            self.request(Method::POST, &["v1", "functions", function_id, "versions"])
                .json(&body),
        )
        .await
    }

    pub async fn list_versions(&self, function_id: &str) -> Result<Vec<VersionView>, ClientError> {
        let list: VersionList = self
            .json(self.request(Method::GET, &["v1", "functions", function_id, "versions"]))
            .await?;
        Ok(list.function_versions)
    }

    pub async fn get_version(
        &self,
        function_id: &str,
        version: u64,
    ) -> Result<VersionView, ClientError> {
        let n = version.to_string();
        self.json(self.request(
            Method::GET,
            &["v1", "functions", function_id, "versions", &n],
        ))
        .await
    }

    pub async fn delete_version(&self, function_id: &str, version: u64) -> Result<(), ClientError> {
        let n = version.to_string();
        self.empty(self.request(
            Method::DELETE,
            &["v1", "functions", function_id, "versions", &n],
        ))
        .await
    }

    /// `GET /v1/functions/{id}/versions/{n}?download=true`: the version's zip package.
    pub async fn download_version(
        &self,
        function_id: &str,
        version: u64,
    ) -> Result<Bytes, ClientError> {
        let n = version.to_string();
        let req = self
            .request(
                Method::GET,
                &["v1", "functions", function_id, "versions", &n],
            )
            .query(&[("download", "true")]);
        let resp = self.send(req).await?;
        resp.bytes().await.map_err(ClientError::Http)
    }

    // Aliases.

    pub async fn create_alias(&self, body: &CreateAlias) -> Result<AliasView, ClientError> {
        self.json(self.request(Method::POST, &["v1", "aliases"]).json(body))
            .await
    }

    pub async fn list_aliases(&self) -> Result<Vec<AliasView>, ClientError> {
        let list: AliasList = self
            .json(self.request(Method::GET, &["v1", "aliases"]))
            .await?;
        Ok(list.function_aliases)
    }

    pub async fn get_alias(&self, name: &str) -> Result<AliasView, ClientError> {
        self.json(self.request(Method::GET, &["v1", "aliases", name]))
            .await
    }

    pub async fn update_alias(
        &self,
        name: &str,
        body: &UpdateAlias,
    ) -> Result<AliasView, ClientError> {
        self.json(
            self.request(Method::PUT, &["v1", "aliases", name])
                .json(body),
        )
        .await
    }

    pub async fn delete_alias(&self, name: &str) -> Result<(), ClientError> {
        self.empty(self.request(Method::DELETE, &["v1", "aliases", name]))
            .await
    }

    // Webhooks.

    /// `POST /v1/webhooks`. With `secret: true` the answer carries the generated secret, the
    /// only time it is shown.
    pub async fn create_webhook(&self, body: &WebhookRequest) -> Result<WebhookView, ClientError> {
        self.json(self.request(Method::POST, &["v1", "webhooks"]).json(body))
            .await
    }

    pub async fn list_webhooks(&self) -> Result<Vec<WebhookView>, ClientError> {
        let list: WebhookList = self
            .json(self.request(Method::GET, &["v1", "webhooks"]))
            .await?;
        Ok(list.webhooks)
    }

    pub async fn get_webhook(&self, id: &str) -> Result<WebhookView, ClientError> {
        self.json(self.request(Method::GET, &["v1", "webhooks", id]))
            .await
    }

    pub async fn update_webhook(
        &self,
        id: &str,
        body: &WebhookRequest,
    ) -> Result<WebhookView, ClientError> {
        self.json(
            self.request(Method::PUT, &["v1", "webhooks", id])
                .json(body),
        )
        .await
    }

    pub async fn delete_webhook(&self, id: &str) -> Result<(), ClientError> {
        self.empty(self.request(Method::DELETE, &["v1", "webhooks", id]))
            .await
    }

    /// `POST /v1/webhooks/{id}/invoke` with a JSON object body and optional extra headers
    /// (`Authorization: Bearer <secret>`, `X-Hub-Signature-256`).
    pub async fn invoke_webhook(
        &self,
        id: &str,
        input: &Map<String, Value>,
        headers: &[(&str, String)],
    ) -> Result<InvokeView, ClientError> {
        let mut req = self
            .request(Method::POST, &["v1", "webhooks", id, "invoke"])
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(input).expect("a JSON map serializes"));
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        self.json(req).await
    }

    // Jobs.

    pub async fn create_job(&self, body: &CreateJob) -> Result<JobView, ClientError> {
        self.json(self.request(Method::POST, &["v1", "jobs"]).json(body))
            .await
    }

    pub async fn list_jobs(&self) -> Result<Vec<JobView>, ClientError> {
        let list: JobList = self
            .json(self.request(Method::GET, &["v1", "jobs"]))
            .await?;
        Ok(list.jobs)
    }

    pub async fn get_job(&self, id: &str) -> Result<JobView, ClientError> {
        self.json(self.request(Method::GET, &["v1", "jobs", id]))
            .await
    }

    pub async fn update_job(&self, id: &str, body: &UpdateJob) -> Result<JobView, ClientError> {
        self.json(self.request(Method::PUT, &["v1", "jobs", id]).json(body))
            .await
    }

    pub async fn delete_job(&self, id: &str) -> Result<(), ClientError> {
        self.empty(self.request(Method::DELETE, &["v1", "jobs", id]))
            .await
    }
}
