//! The Management API (`rest/management/…`): credentials, sentinels, package instances,
//! their settings and groups, and configuration reloads, as the caller identity
//! `Management/<friendly name>` with a credential that has `EnableManagementAPI`.

use super::{Client, Error, Identity};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// The Management API of one server, as one caller.
#[derive(Clone, Debug)]
pub struct Management {
    client: Client,
    identity: Identity,
}

/// An entry of a listing: only its name matters here.
#[derive(Deserialize)]
struct Named {
    #[serde(rename = "Name")]
    name: String,
}

impl Management {
    /// The sentinel name Management API callers use.
    pub const SENTINEL: &'static str = "Management";

    /// The Management API of `client`'s server, as `friendly_name` with `access_key`.
    pub fn new(client: Client, friendly_name: &str, access_key: &str) -> Self {
        Self {
            client,
            identity: Identity::new(Self::SENTINEL, friendly_name, access_key),
        }
    }

    async fn call(
        &self,
        action: &'static str,
        method: Method,
        segments: &[&str],
        query: Vec<(&'static str, &str)>,
        body: Option<&Value>,
    ) -> Result<bytes::Bytes, Error> {
        self.client
            .management(action, &self.identity, method, segments, query, body)
            .await
    }

    async fn names(&self, action: &'static str, segments: &[&str]) -> Result<Vec<String>, Error> {
        let body = self
            .call(action, Method::GET, segments, vec![], None)
            .await?;
        let list: Vec<Named> = serde_json::from_slice(&body).map_err(|e| Error::Protocol {
            action,
            reason: format!("not a list of named entries: {e}"),
        })?;
        Ok(list.into_iter().map(|n| n.name).collect())
    }

    /// POSTs `body` to `segments`.
    async fn post(
        &self,
        action: &'static str,
        segments: &[&str],
        body: &Value,
    ) -> Result<(), Error> {
        self.call(action, Method::POST, segments, vec![], Some(body))
            .await
            .map(drop)
    }

    /// `CheckAccess`: whether the management credential is accepted.
    pub async fn check_access(&self) -> Result<(), Error> {
        self.call(
            "management/CheckAccess",
            Method::GET,
            &["CheckAccess"],
            vec![],
            None,
        )
        .await
        .map(drop)
    }

    /// The names of the credentials.
    pub async fn credentials(&self) -> Result<Vec<String>, Error> {
        self.names("management/credentials", &["credentials"]).await
    }

    /// Adds (or replaces) the credential `name` with `access_key`.
    pub async fn add_credential(&self, name: &str, access_key: &str) -> Result<(), Error> {
        let body = json!({"Name": name, "AccessKey": access_key, "Enable": true});
        self.post("management/credentials", &["credentials"], &body)
            .await
    }

    /// The names of the sentinels.
    pub async fn sentinels(&self) -> Result<Vec<String>, Error> {
        self.names("management/sentinels", &["sentinels"]).await
    }

    /// Adds (or replaces) a virtual sentinel using `credential`.
    pub async fn add_sentinel(&self, name: &str, credential: &str) -> Result<(), Error> {
        let body = json!({"Name": name, "Credential": credential});
        self.post("management/sentinels", &["sentinels"], &body)
            .await
    }

    /// The names of a sentinel's package instances.
    pub async fn packages(&self, sentinel: &str) -> Result<Vec<String>, Error> {
        self.names("management/packages", &["sentinels", sentinel, "packages"])
            .await
    }

    /// Adds (or replaces) a virtual package instance using `credential`.
    pub async fn add_package(
        &self,
        sentinel: &str,
        package: &str,
        credential: &str,
    ) -> Result<(), Error> {
        let body = json!({"Name": package, "Enable": true, "Credential": credential});
        let path = ["sentinels", sentinel, "packages"];
        self.post("management/packages", &path, &body).await
    }

    /// Removes a package instance.
    pub async fn delete_package(&self, sentinel: &str, package: &str) -> Result<(), Error> {
        let path = ["sentinels", sentinel, "packages", package];
        self.call("management/packages", Method::DELETE, &path, vec![], None)
            .await
            .map(drop)
    }

    /// Replaces an instance's settings.
    pub async fn set_settings(
        &self,
        sentinel: &str,
        package: &str,
        settings: &Map<String, Value>,
    ) -> Result<(), Error> {
        let path = ["sentinels", sentinel, "packages", package, "settings"];
        let body = Value::Object(settings.clone());
        self.post("management/settings", &path, &body).await
    }

    /// Replaces an instance's groups.
    pub async fn set_groups(
        &self,
        sentinel: &str,
        package: &str,
        groups: &[String],
    ) -> Result<(), Error> {
        let path = ["sentinels", sentinel, "packages", package, "groups"];
        self.post("management/groups", &path, &json!(groups)).await
    }

    /// `configuration/reload` (with `deployConfiguration` when `deploy`).
    pub async fn reload(&self, deploy: bool) -> Result<(), Error> {
        let deploy = if deploy { "true" } else { "false" };
        let path = ["configuration", "reload"];
        let query = vec![("deployConfiguration", deploy)];
        self.call("management/reload", Method::GET, &path, query, None)
            .await
            .map(drop)
    }
}
