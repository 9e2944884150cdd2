//! Where the `ferrocache-engine` binary is: `FERROCACHE_ENGINE`, next to the operator binary (the same cargo
//! target directory), or on `PATH`, in that order.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Environment variable naming the engine binary explicitly.
pub const ENGINE_ENV: &str = "FERROCACHE_ENGINE";
/// File name of the engine binary.
pub const ENGINE_BINARY: &str = "ferrocache-engine";

/// Finds the engine binary, or says where it looked.
pub fn locate() -> Result<PathBuf> {
    if let Some(explicit) = std::env::var_os(ENGINE_ENV).map(PathBuf::from) {
        // An explicit choice is never silently replaced by another binary.
        return if is_executable(&explicit) {
            Ok(explicit)
        } else {
            Err(Error::EngineBinaryMissing {
                searched: format!("{ENGINE_ENV}={}", explicit.display()),
            })
        };
    }
    let beside = std::env::current_exe().ok().and_then(|exe| {
        // `target/<profile>/ferrocache-operator` or, for tests, `target/<profile>/deps/<test>`.
        let dir = exe.parent()?;
        let dir = if dir.ends_with("deps") {
            dir.parent()?
        } else {
            dir
        };
        Some(dir.join(ENGINE_BINARY))
    });
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(ENGINE_BINARY))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let candidates: Vec<PathBuf> = beside.into_iter().chain(on_path).collect();
    if let Some(found) = candidates.iter().find(|p| is_executable(p)) {
        return Ok(found.clone());
    }
    let searched = if candidates.is_empty() {
        "nowhere: no PATH".to_string()
    } else {
        candidates
            .iter()
            .take(3)
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
            + if candidates.len() > 3 { ", PATH" } else { "" }
    };
    Err(Error::EngineBinaryMissing { searched })
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    path.is_file()
}

/// Like [`locate`], but when the operator was started by `cargo run` (cargo sets `CARGO` and
/// `CARGO_MANIFEST_DIR`) and the engine is missing, builds it with the same profile first, so one
/// `cargo run … -- local` is enough on a fresh checkout.
pub fn locate_or_build() -> Result<PathBuf> {
    let missing = match locate() {
        Ok(found) => return Ok(found),
        Err(e) => e,
    };
    let (Some(cargo), Some(manifest_dir)) = (
        std::env::var_os("CARGO"),
        std::env::var_os("CARGO_MANIFEST_DIR"),
    ) else {
        return Err(missing);
    };
    if std::env::var_os(ENGINE_ENV).is_some() {
        return Err(missing);
    }
    let release = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.ends_with("release")))
        .unwrap_or(false);
    let workspace = PathBuf::from(manifest_dir).join("..");
    let mut build = std::process::Command::new(cargo);
    build.current_dir(&workspace).args([
        "build",
        "-p",
        "ferrocache-engine",
        "--bin",
        ENGINE_BINARY,
    ]);
    if release {
        build.arg("--release");
    }
    eprintln!("building {ENGINE_BINARY} (not found next to the operator)…");
    let status = build.status().map_err(|source| Error::Io {
        what: format!("run cargo build for {ENGINE_BINARY}"),
        source,
    })?;
    if !status.success() {
        return Err(missing);
    }
    locate()
}
