//! Ridge's tenancy extensions: projects, users, tokens, `whoami`, quotas and retention.

use reqwest::Method;
use ridge_core::api::{
    CreateProject, CreateToken, CreateUser, ProjectList, ProjectView, QuotaView, RetentionView,
    SetQuotas, SetRetention, TokenList, TokenView, UserList, UserView, WhoamiView,
};

use super::RidgeClient;
use crate::ClientError;

impl RidgeClient {
    /// `GET /v1/whoami`: the project, user and roles the server takes this client for.
    pub async fn whoami(&self) -> Result<WhoamiView, ClientError> {
        self.json(self.request(Method::GET, &["v1", "whoami"]))
            .await
    }

    pub async fn create_project(&self, body: &CreateProject) -> Result<ProjectView, ClientError> {
        self.json(self.request(Method::POST, &["v1", "projects"]).json(body))
            .await
    }

    pub async fn list_projects(&self) -> Result<Vec<ProjectView>, ClientError> {
        let list: ProjectList = self
            .json(self.request(Method::GET, &["v1", "projects"]))
            .await?;
        Ok(list.projects)
    }

    pub async fn create_user(&self, body: &CreateUser) -> Result<UserView, ClientError> {
        self.json(self.request(Method::POST, &["v1", "users"]).json(body))
            .await
    }

    pub async fn list_users(&self, project: Option<&str>) -> Result<Vec<UserView>, ClientError> {
        let mut req = self.request(Method::GET, &["v1", "users"]);
        if let Some(p) = project {
            req = req.query(&[("project_id", p)]);
        }
        let list: UserList = self.json(req).await?;
        Ok(list.users)
    }

    pub async fn delete_user(&self, id: &str) -> Result<(), ClientError> {
        self.empty(self.request(Method::DELETE, &["v1", "users", id]))
            .await
    }

    /// `POST /v1/tokens`: the answer's `token` holds the secret, shown this once.
    pub async fn create_token(&self, body: &CreateToken) -> Result<TokenView, ClientError> {
        self.json(self.request(Method::POST, &["v1", "tokens"]).json(body))
            .await
    }

    pub async fn list_tokens(&self, user: Option<&str>) -> Result<Vec<TokenView>, ClientError> {
        let mut req = self.request(Method::GET, &["v1", "tokens"]);
        if let Some(u) = user {
            req = req.query(&[("user_id", u)]);
        }
        let list: TokenList = self.json(req).await?;
        Ok(list.tokens)
    }

    pub async fn revoke_token(&self, id: &str) -> Result<(), ClientError> {
        self.empty(self.request(Method::DELETE, &["v1", "tokens", id]))
            .await
    }

    /// `GET /v1/quotas`, or `GET /v1/quotas/{project}` (admin, for another project).
    pub async fn quotas(&self, project: Option<&str>) -> Result<QuotaView, ClientError> {
        let req = match project {
            Some(p) => self.request(Method::GET, &["v1", "quotas", p]),
            None => self.request(Method::GET, &["v1", "quotas"]),
        };
        self.json(req).await
    }

    /// `PUT /v1/quotas/{project}` (admin).
    pub async fn set_quotas(
        &self,
        project: &str,
        body: &SetQuotas,
    ) -> Result<QuotaView, ClientError> {
        self.json(
            self.request(Method::PUT, &["v1", "quotas", project])
                .json(body),
        )
        .await
    }

    /// `GET /v1/retention`, or `GET /v1/retention/{project}` (admin, for another project).
    pub async fn retention(&self, project: Option<&str>) -> Result<RetentionView, ClientError> {
        let path: &[&str] = match project {
            Some(p) => &["v1", "retention", p],
            None => &["v1", "retention"],
        };
        self.json(self.request(Method::GET, path)).await
    }

    /// `PUT /v1/retention/{project}` (admin).
    pub async fn set_retention(
        &self,
        project: &str,
        body: &SetRetention,
    ) -> Result<RetentionView, ClientError> {
        let req = self.request(Method::PUT, &["v1", "retention", project]);
        self.json(req.json(body)).await
    }
}
