//! One engine child process: its command line, log file and clean stop (SIGTERM, then SIGKILL after a grace
//! period).

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::api::Engine;
use crate::platform::Presence;
use crate::{Error, Result};

/// How long a node may take to stop after SIGTERM before it is killed, when the cluster stops.
pub const STOP_GRACE: Duration = Duration::from_secs(5);
/// The same when a node is replaced: it failed already, so a long wait only delays the failover.
pub const REPLACE_GRACE: Duration = Duration::from_millis(500);

/// Files and address of a node's process.
#[derive(Debug, Clone)]
pub struct Launch<'a> {
    /// The engine binary.
    pub binary: &'a Path,
    /// Node directory: `engine.conf`, `engine.log` and `data/` live here.
    pub dir: &'a Path,
    /// Client port on 127.0.0.1.
    pub port: u16,
    /// Protocol.
    pub engine: Engine,
    /// Auto-discovery file for memcached nodes.
    pub cluster_config: Option<&'a Path>,
}

impl Launch<'_> {
    /// The node's log file.
    pub fn log_file(&self) -> PathBuf {
        self.dir.join("engine.log")
    }

    /// The engine's arguments: the configuration file, then flags (flags win over the file).
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![
            "--config".to_string(),
            self.dir.join("engine.conf").display().to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--dir".into(),
            self.dir.join("data").display().to_string(),
            "--metrics-port".into(),
            "0".into(),
        ];
        match self.engine {
            Engine::Redis => {
                args.extend(["--port".into(), self.port.to_string()]);
                args.extend(["--role".into(), "standby".into()]);
            }
            Engine::Memcached => {
                args.extend(["--protocol".into(), "memcached".into()]);
                args.extend(["--memcached-port".into(), self.port.to_string()]);
                if let Some(file) = self.cluster_config {
                    args.extend(["--cluster-config".into(), file.display().to_string()]);
                }
            }
        }
        args
    }
}

/// Writes the node's configuration and starts its process, output appended to its log file.
pub fn spawn(launch: &Launch<'_>, config: &str) -> Result<Child> {
    let io = |what: String| move |source| Error::Io { what, source };
    std::fs::create_dir_all(launch.dir.join("data"))
        .map_err(io(format!("create {}", launch.dir.display())))?;
    let config_path = launch.dir.join("engine.conf");
    std::fs::write(&config_path, config).map_err(io(format!("write {}", config_path.display())))?;
    let log_path = launch.log_file();
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(io(format!("open {}", log_path.display())))?;
    let log_err = log
        .try_clone()
        .map_err(io(format!("open {}", log_path.display())))?;
    let mut command = Command::new(launch.binary);
    // A process group of its own: Ctrl-C in the terminal reaches the operator only, which then stops the nodes
    // in order instead of racing them.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    command
        .args(launch.args())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(io(format!("start {}", launch.binary.display())))
}

/// Whether the process still runs.
pub fn presence(child: &mut Child) -> Presence {
    match child.try_wait() {
        Ok(None) => Presence::Running,
        Ok(Some(status)) => Presence::Gone(status.code()),
        Err(_) => Presence::Gone(None),
    }
}

/// Stops the process: SIGTERM (the engine stops cleanly), SIGKILL after `grace`.
pub fn stop(child: &mut Child, grace: Duration) {
    if presence(child) != Presence::Running {
        return;
    }
    terminate(child);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if presence(child) != Presence::Running {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Sends SIGTERM without waiting, so several nodes stop at once.
#[cfg(unix)]
pub fn terminate(child: &mut Child) {
    match libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) with a pid of our own child process and a valid signal number has no memory effects.
        Ok(pid) => unsafe {
            libc::kill(pid, libc::SIGTERM);
        },
        Err(_) => {
            let _ = child.kill();
        }
    }
}

/// Stops the process without waiting.
#[cfg(not(unix))]
pub fn terminate(child: &mut Child) {
    let _ = child.kill();
}
