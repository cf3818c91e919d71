//! Finding the external programs `clearing dev` runs: anvil from the repository's `node_modules` (npm), the
//! PostgreSQL server binaries from the system.

use std::{
    env,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::bail;

/// `node_modules/.bin/<name>` in the current directory or an ancestor, or in an ancestor of this executable
/// (so `target/debug/clearing` finds the repository's tools), or `<name>` on `PATH`.
pub(crate) fn npm_binary(name: &str) -> anyhow::Result<PathBuf> {
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Ok(cwd) = env::current_dir() {
        roots.push(cwd);
    }
    if let Ok(exe) = env::current_exe() {
        roots.push(exe);
    }
    for root in roots {
        for dir in root.ancestors() {
            let candidate = dir.join("node_modules/.bin").join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    if let Some(found) = on_path(name) {
        return Ok(found);
    }
    bail!("`{name}` not found: run `npm ci` in the repository (the README's commands do it for you)")
}

/// The directory of the PostgreSQL server binaries (`initdb`, `postgres`).
pub(crate) fn postgres_bindir() -> anyhow::Result<PathBuf> {
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if output.status.success() && dir.join("initdb").is_file() {
            return Ok(dir);
        }
    }
    // Debian keeps the server binaries off PATH, under /usr/lib/postgresql/<major>/bin.
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((major, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    if let Some(initdb) = on_path("initdb") {
        return Ok(initdb.parent().unwrap_or(Path::new("/")).to_path_buf());
    }
    bail!("PostgreSQL server binaries (initdb, postgres) not found: install PostgreSQL or pass --database-url")
}

fn on_path(name: &str) -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH")?).map(|dir| dir.join(name)).find(|p| p.is_file())
}
