//! [`WithDockerCredentials`]: a client [`Config`] filled in with the credentials docker
//! would use for its host.

use dxf_proto::client::Config;
use dxf_proto::Credentials;

use crate::{DockerConfigDir, Error};

/// Credentials from docker's configuration (`$DOCKER_CONFIG/config.json`, default
/// `~/.docker/config.json`) for a client [`Config`]; `dxf_ureq` and `dxf_hyper` re-export it.
pub trait WithDockerCredentials: Sized {
    /// Fills in the credentials the way the docker CLI finds them for the config's host —
    /// a credential helper (`credHelpers`, then `credsStore`), else `auths` (`auth`, or
    /// `identitytoken` used as an OAuth2 refresh token) — from `$DOCKER_CONFIG` (default
    /// `~/.docker`). Explicit credentials or a token already set are kept as they are;
    /// no configuration, or no entry for the host, leaves the config anonymous.
    fn with_docker_credentials(self) -> Result<Self, Error>;

    /// [`with_docker_credentials`](Self::with_docker_credentials) from this directory.
    fn with_docker_credentials_from(self, dir: &DockerConfigDir) -> Result<Self, Error>;
}

impl WithDockerCredentials for Config {
    fn with_docker_credentials(self) -> Result<Config, Error> {
        match DockerConfigDir::from_env() {
            Some(dir) => self.with_docker_credentials_from(&dir),
            None => Ok(self),
        }
    }

    fn with_docker_credentials_from(mut self, dir: &DockerConfigDir) -> Result<Config, Error> {
        if self.credentials != Credentials::None || self.token.is_some() {
            return Ok(self);
        }
        self.credentials = dir.credentials(&self.host)?;
        Ok(self)
    }
}
