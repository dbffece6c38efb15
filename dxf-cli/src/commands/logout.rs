//! `logout [HOST]`, as `docker logout`: removes the credentials [`super::login`] stored.

use std::io::{Read, Write};

use dxf_ureq::docker_config::Logout;
use dxf_ureq::dxf_proto::docker_config::server_address;

use super::login::{config_dir, host_of};
use super::Run;
use crate::env::Env;
use crate::error::CliError;
use crate::output;

/// Log out of a registry: remove the credentials login stored
#[derive(Debug, PartialEq, Eq, clap::Args)]
pub(crate) struct Args {
    /// Registry HOST or HOST:PORT (default: DXF_HOST)
    #[arg(value_name = "HOST")]
    pub host: Option<String>,
}

impl Run for Args {
    /// Removes the host's stored credentials (`Removing login credentials for HOST`), or
    /// says `Not logged in to HOST` (exit 0) when there are none.
    fn run(&self, env: &Env, out: &mut dyn Write, _: &mut dyn Read) -> Result<(), CliError> {
        let host = host_of(env, self.host.as_deref(), "logout")?;
        let dir = config_dir(env)?;
        let shown = server_address(&host);
        match dir.logout(&host).map_err(CliError::Docker)? {
            Logout::NotLoggedIn => output::line(out, &format!("Not logged in to {shown}")),
            Logout::Removed(_) => {
                output::line(out, &format!("Removing login credentials for {shown}"))
            }
        }
    }
}
