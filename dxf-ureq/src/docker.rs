//! Credentials from docker's configuration (`$DOCKER_CONFIG/config.json`, default
//! `~/.docker/config.json`): [`Config::with_docker_credentials`]. The lookup rules are
//! dxf-proto's ([`dxf_proto::docker_config`]); reading the file and running
//! `docker-credential-*` helpers is [`crate::docker_config`]'s.

use crate::docker_config::{DockerConfigDir, Error};
use crate::{Config, Credentials};

impl Config {
    /// Fills in [`credentials`](Config::credentials) the way the docker CLI finds them for
    /// [`host`](Config::host) — a credential helper (`credHelpers`, then `credsStore`),
    /// else `auths` (`auth`, or `identitytoken` used as an OAuth2 refresh token) — from
    /// `$DOCKER_CONFIG` (else `~/.docker`). Credentials or a [`token`](Config::token)
    /// already set win: the configuration is then not read. No directory or no entry leaves
    /// the config anonymous.
    ///
    /// Blocking: it reads a file and may run a helper program.
    pub fn with_docker_credentials(self) -> Result<Config, Error> {
        match DockerConfigDir::from_env() {
            Some(dir) => self.with_docker_credentials_from(&dir),
            None => Ok(self),
        }
    }

    /// As [`with_docker_credentials`](Config::with_docker_credentials), with the
    /// configuration directory `dir`.
    pub fn with_docker_credentials_from(mut self, dir: &DockerConfigDir) -> Result<Config, Error> {
        if self.credentials != Credentials::None || self.token.is_some() {
            return Ok(self);
        }
        self.credentials = dir.credentials(&self.host)?;
        Ok(self)
    }
}
