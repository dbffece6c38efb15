//! Pushes every file of a directory concurrently (one task per file, one shared client),
//! sets one alias for all of them, and prints the digests.
//!
//! ```text
//! DXF_HOST=localhost:5000 DXF_INSECURE=1 cargo run -p dxf-hyper --example push_dir -- DIR REPO ALIAS
//! ```
//!
//! Also reads `DXF_USERNAME` / `DXF_PASSWORD`, `DXF_TLSVERIFY` (a CA bundle path) and
//! `DXF_SKIPTLSVERIFY=1`, like the `dxf` command.

use std::error::Error;
use std::path::PathBuf;

use dxf_hyper::{PushOptions, Registry};
use tokio::task::JoinSet;

#[path = "common/env_config.rs"]
mod env_config;
use env_config::config;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, repo, alias] = args.as_slice() else {
        return Err("usage: push_dir DIR REPO ALIAS".into());
    };
    let repo = Registry::new(&config()?)?.repository(repo)?;

    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|entry| Ok::<_, std::io::Error>(entry?.path()))
        .filter(|path| path.as_ref().map_or(true, |p| p.is_file()))
        .collect::<Result<_, _>>()?;
    files.sort();

    let mut tasks = JoinSet::new();
    for (index, path) in files.iter().enumerate() {
        let (repo, path) = (repo.clone(), path.clone());
        tasks.spawn(async move {
            let pushed = repo.push_blob_path(&path, PushOptions::new()).await;
            (index, path, pushed)
        });
    }
    let mut digests = vec![None; files.len()];
    while let Some(joined) = tasks.join_next().await {
        let (index, path, pushed) = joined?;
        let pushed = pushed.map_err(|e| format!("{}: {e}", path.display()))?;
        println!("{} {}", pushed.digest, path.display());
        if let Some(slot) = digests.get_mut(index) {
            *slot = Some(pushed.digest);
        }
    }
    // In directory order, whatever order the pushes finished in.
    let digests: Vec<_> = digests.into_iter().flatten().collect();
    repo.set_alias(alias, &digests).await?;
    println!("{alias}: {} blobs", digests.len());
    Ok(())
}
