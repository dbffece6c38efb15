//! Docker's client credentials, without the IO: the `config.json` file docker keeps
//! (`$DOCKER_CONFIG/config.json`, default `~/.docker/config.json`) and the
//! credential-helper protocol (`docker-credential-NAME get|store|erase`).
//!
//! - [`config_file`]: decoding and re-encoding the file (unknown keys kept), which entry
//!   serves a registry host (docker's matching rules: `host`, `https://host`,
//!   `http://host/…`, and Docker Hub's `https://index.docker.io/v1/`), and the order
//!   `credHelpers` › `credsStore` › `auths`.
//! - [`helper`]: what to write to a helper's stdin and how to read what it prints
//!   (`{"ServerURL","Username","Secret"}`; username `<token>` means an identity token).
//!
//! The adapters read the file, run the helper program and write the file back.

pub mod config_file;
pub mod helper;

pub use config_file::{
    hostname_of, server_address, CredentialSource, DockerConfig, DockerConfigError, StoreTarget,
    DOCKER_HUB_SERVER, MAX_CONFIG_SIZE,
};
pub use helper::{helper_program, HelperError, MAX_HELPER_OUTPUT};
