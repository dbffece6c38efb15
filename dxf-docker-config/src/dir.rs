//! [`DockerConfigDir`]: docker's configuration directory (`$DOCKER_CONFIG`, else
//! `~/.docker`) and its `config.json` — finding a host's credentials (through a helper
//! when one is configured), storing them (`login`) and removing them (`logout`). The file
//! is written atomically (a temporary file in the same directory, renamed over it), with
//! mode 0600 for a new file (an existing file keeps its mode) in a 0700 directory.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use dxf_proto::docker_config::{
    helper, CredentialSource, DockerConfig, StoreTarget, MAX_CONFIG_SIZE,
};
use dxf_proto::Credentials;

use crate::helper::run_helper;
use crate::Error;

/// The variable naming docker's configuration directory.
pub const DOCKER_CONFIG: &str = "DOCKER_CONFIG";

/// The file in it.
pub const CONFIG_FILE: &str = "config.json";

/// What [`DockerConfigDir::logout`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Logout {
    /// No `auths` entry named the host (docker: `Not logged in to HOST`).
    NotLoggedIn,
    /// These `auths` keys were removed (and erased from the helper, if one is configured).
    Removed(Vec<String>),
}

/// Docker's configuration directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DockerConfigDir {
    dir: PathBuf,
}

impl DockerConfigDir {
    /// The directory `dir`.
    pub fn at(dir: impl Into<PathBuf>) -> DockerConfigDir {
        DockerConfigDir { dir: dir.into() }
    }

    /// `$DOCKER_CONFIG` if set and non-empty, else `$HOME/.docker`; `None` when neither is
    /// set.
    pub fn from_env() -> Option<DockerConfigDir> {
        DockerConfigDir::from_lookup(|name| std::env::var_os(name))
    }

    /// As [`from_env`](Self::from_env), reading variables through `get`.
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Option<DockerConfigDir> {
        let set = |name| get(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        set(DOCKER_CONFIG)
            .or_else(|| set("HOME").map(|home| home.join(".docker")))
            .map(DockerConfigDir::at)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its `config.json`.
    pub fn path(&self) -> PathBuf {
        self.dir.join(CONFIG_FILE)
    }

    /// The configuration; empty when the file does not exist.
    pub fn load(&self) -> Result<DockerConfig, Error> {
        let path = self.path();
        let file = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(DockerConfig::empty()),
            Err(error) => return Err(Error::Read { path, error }),
        };
        let mut bytes = Vec::new();
        let limit = u64::try_from(MAX_CONFIG_SIZE).unwrap_or(u64::MAX) + 1;
        if let Err(error) = file.take(limit).read_to_end(&mut bytes) {
            return Err(Error::Read { path, error });
        }
        DockerConfig::parse(&bytes).map_err(|error| Error::Config { path, error })
    }

    /// The credentials docker would use for registry `host` (`host[:port]`):
    /// from the configured helper (`credHelpers`, then `credsStore`), else from `auths`;
    /// [`Credentials::None`] when there are none.
    pub fn credentials(&self, host: &str) -> Result<Credentials, Error> {
        let config = self.load()?;
        let source = config.source(host).map_err(|error| Error::Config {
            path: self.path(),
            error,
        })?;
        match source {
            CredentialSource::None => Ok(Credentials::None),
            CredentialSource::Stored(c) => Ok(c),
            CredentialSource::Helper {
                helper: name,
                server_url,
            } => {
                let program = helper::helper_program(&name)?;
                let (ok, output) = run_helper(&program, "get", &helper::get_input(&server_url))?;
                Ok(helper::parse_get(&program, ok, &output)?.unwrap_or_default())
            }
        }
    }

    /// Stores `username`/`password` for `host` as `docker login` does: through the
    /// configured helper (`store`; the file then gets an empty `auths` entry for the host),
    /// else base64 in `auths`. Returns the server address they were stored under.
    pub fn login(&self, host: &str, username: &str, password: &str) -> Result<String, Error> {
        let mut config = self.load()?;
        let key = match config.store_target(host) {
            StoreTarget::File { key } => {
                config.set_auth(&key, username, password);
                key
            }
            StoreTarget::Helper { helper: name, key } => {
                let program = helper::helper_program(&name)?;
                let credentials = Credentials::Basic {
                    username: username.to_owned(),
                    password: password.to_owned(),
                };
                let input = helper::store_input(&key, &credentials);
                let (ok, output) = run_helper(&program, "store", &input)?;
                helper::check_done(&program, "store", ok, &output)?;
                config.mark_logged_in(&key);
                key
            }
        };
        self.save(&config)?;
        Ok(key)
    }

    /// Removes `host`'s credentials as `docker logout` does: every `auths` key that names
    /// it, and the same keys from the configured helper (`erase`).
    pub fn logout(&self, host: &str) -> Result<Logout, Error> {
        let mut config = self.load()?;
        let keys = config.logged_in_keys(host);
        if keys.is_empty() {
            return Ok(Logout::NotLoggedIn);
        }
        let helper = config.helper_for(host).map(str::to_owned);
        for key in &keys {
            config.remove_auth(key);
        }
        self.save(&config)?;
        if let Some(name) = helper {
            let program = helper::helper_program(&name)?;
            for key in &keys {
                let (ok, output) = run_helper(&program, "erase", &helper::erase_input(key))?;
                helper::check_done(&program, "erase", ok, &output)?;
            }
        }
        Ok(Logout::Removed(keys))
    }

    /// Writes `config` to `config.json` atomically (following a symlinked file, as docker
    /// does).
    pub fn save(&self, config: &DockerConfig) -> Result<(), Error> {
        let path = self.path();
        let failed = |error| Error::Write {
            path: self.path(),
            error,
        };
        create_private_dir(&self.dir).map_err(failed)?;
        let target = match fs::canonicalize(&path) {
            Ok(real) => real,
            Err(e) if e.kind() == io::ErrorKind::NotFound => path.clone(),
            Err(e) => return Err(failed(e)),
        };
        let dir = target.parent().unwrap_or(&self.dir);
        let mode = fs::metadata(&target).ok().map(|m| m.permissions());
        let tmp = dir.join(format!(".{CONFIG_FILE}.{}.tmp", std::process::id()));
        let written = (|| {
            let mut file = create_private_file(&tmp)?;
            file.write_all(&config.to_bytes())?;
            file.sync_all()?;
            if let Some(mode) = mode {
                fs::set_permissions(&tmp, mode)?;
            }
            fs::rename(&tmp, &target)
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(failed(e));
        }
        Ok(())
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)
}

#[cfg(unix)]
fn create_private_file(path: &Path) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private_file(path: &Path) -> io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    #[test]
    fn the_directory_comes_from_docker_config_then_home() {
        let lookup = |vars: &'static [(&'static str, &'static str)]| {
            DockerConfigDir::from_lookup(move |n| {
                vars.iter()
                    .find(|(k, _)| *k == n)
                    .map(|(_, v)| OsString::from(v))
            })
        };
        assert_eq!(
            lookup(&[("DOCKER_CONFIG", "/d"), ("HOME", "/h")]),
            Some(DockerConfigDir::at("/d"))
        );
        assert_eq!(
            lookup(&[("DOCKER_CONFIG", ""), ("HOME", "/h")]),
            Some(DockerConfigDir::at("/h/.docker"))
        );
        assert_eq!(lookup(&[]), None);
    }

    #[test]
    fn login_creates_a_private_file_and_logout_removes_the_entry() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DockerConfigDir::at(tmp.path().join("new/.docker"));
        assert_eq!(dir.credentials("reg.test").unwrap(), Credentials::None);
        assert_eq!(dir.logout("reg.test").unwrap(), Logout::NotLoggedIn);
        assert_eq!(dir.login("reg.test", "u", "p").unwrap(), "reg.test");
        assert_eq!(
            dir.credentials("reg.test").unwrap(),
            Credentials::Basic {
                username: "u".into(),
                password: "p".into()
            }
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let mode = fs::metadata(dir.dir()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        assert_eq!(
            dir.logout("reg.test").unwrap(),
            Logout::Removed(vec!["reg.test".into()])
        );
        assert_eq!(dir.credentials("reg.test").unwrap(), Credentials::None);
        let leftovers: Vec<_> = fs::read_dir(dir.dir()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary files left: {leftovers:?}");
    }

    #[test]
    fn an_existing_file_keeps_its_mode_and_unknown_keys() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DockerConfigDir::at(tmp.path());
        fs::write(dir.path(), r#"{"psFormat": "x", "auths": {}}"#).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o640)).unwrap();
        }
        dir.login("reg.test", "u", "p").unwrap();
        let text = fs::read_to_string(dir.path()).unwrap();
        assert!(text.contains("\"psFormat\": \"x\""), "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o640);
        }
    }

    #[test]
    fn a_malformed_file_is_an_error_naming_it_and_is_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DockerConfigDir::at(tmp.path());
        fs::write(dir.path(), "{not json").unwrap();
        let e = dir.credentials("reg.test").unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{}: not a JSON object", dir.path().display())),
            "{e}"
        );
        assert!(dir.login("reg.test", "u", "p").is_err());
        assert_eq!(fs::read_to_string(dir.path()).unwrap(), "{not json");
    }

    #[test]
    fn a_missing_helper_is_a_clear_error() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DockerConfigDir::at(tmp.path());
        fs::write(dir.path(), r#"{"credsStore": "dxf-no-such-helper-xyz"}"#).unwrap();
        let e = dir.credentials("reg.test").unwrap_err().to_string();
        assert_eq!(
            e,
            "credential helper docker-credential-dxf-no-such-helper-xyz not found on PATH"
        );
    }
}
