//! The postmaster child process: spawning as the right OS user with a parent-death signal,
//! reaping, and stopping it (fast, or immediate from `Drop`).
//!
//! The postmaster is spawned from a dedicated reaper thread that lives exactly as long as the
//! child: `PR_SET_PDEATHSIG` fires when the *thread* that forked exits, so spawning from a
//! tokio worker or blocking-pool thread could kill the server when that thread retires.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::sys::signal::{kill, Signal};
use nix::unistd::{Gid, Pid, Uid};

use crate::error::BenchError;

/// Prefix of the temporary directories embedded servers live in.
pub const RUN_DIR_PREFIX: &str = "esp-bench-pg.";

/// The unprivileged OS user postgres runs as when bench runs as root.
#[derive(Debug, Clone)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
    pub name: String,
}

impl RunAs {
    /// `None` when not root; the `postgres` OS user when root; an error when root and no such
    /// user exists (PostgreSQL refuses to run as root).
    pub fn detect() -> anyhow::Result<Option<RunAs>> {
        if !Uid::effective().is_root() {
            return Ok(None);
        }
        match nix::unistd::User::from_name("postgres") {
            Ok(Some(u)) => Ok(Some(RunAs {
                uid: u.uid.as_raw(),
                gid: u.gid.as_raw(),
                name: u.name,
            })),
            Ok(None) => Err(BenchError::Environment(
                "bench runs as root, PostgreSQL refuses to run as root, and there is no `postgres` \
                 OS user to run the embedded server as; `make setup` (apt-get install postgresql) \
                 creates it, or create it with `useradd --system --create-home postgres`, or run \
                 bench as a normal user"
                    .into(),
            )
            .into()),
            Err(e) => Err(anyhow::anyhow!("cannot look up the `postgres` OS user: {e}")),
        }
    }

    pub fn chown(&self, path: &Path) -> anyhow::Result<()> {
        nix::unistd::chown(
            path,
            Some(Uid::from_raw(self.uid)),
            Some(Gid::from_raw(self.gid)),
        )
        .with_context(|| format!("cannot chown {} to {}", path.display(), self.name))
    }
}

#[derive(Default)]
struct Shared {
    exit: Mutex<Option<String>>,
    cv: Condvar,
}

/// A running postmaster. Dropping it stops it immediately.
pub struct Postmaster {
    pid: u32,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Postmaster {
    pub fn spawn(
        postgres: &Path,
        args: &[String],
        cwd: &Path,
        log: File,
        run_as: Option<RunAs>,
    ) -> anyhow::Result<Postmaster> {
        let log_err = log
            .try_clone()
            .context("cannot duplicate the log file handle")?;
        let mut cmd = Command::new(postgres);
        cmd.args(args)
            .current_dir(cwd)
            .env_remove("PGDATA")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        let bench_pid = nix::unistd::getpid();
        let ids = run_as.map(|r| (Uid::from_raw(r.uid), Gid::from_raw(r.gid)));
        // SAFETY: the closure only makes async-signal-safe syscalls (setpgid, setgroups,
        // setgid, setuid, prctl, getppid) and allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                // Own process group: a terminal Ctrl-C reaches bench only; bench stops the server.
                nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
                if let Some((uid, gid)) = ids {
                    nix::unistd::setgroups(&[gid])?;
                    nix::unistd::setgid(gid)?;
                    nix::unistd::setuid(uid)?;
                }
                // After setuid: a credential change clears the parent-death signal.
                // SIGQUIT = immediate shutdown, which also ends all backends.
                nix::sys::prctl::set_pdeathsig(Signal::SIGQUIT)?;
                if nix::unistd::getppid() != bench_pid {
                    return Err(std::io::Error::other(
                        "bench exited before postgres started",
                    ));
                }
                Ok(())
            });
        }
        let shared = Arc::new(Shared::default());
        let reaper_shared = shared.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let display = postgres.display().to_string();
        let thread = std::thread::Builder::new()
            .name("esp-bench-postmaster".into())
            .spawn(move || match cmd.spawn() {
                Ok(mut child) => {
                    let _ = tx.send(Ok(child.id()));
                    let status = match child.wait() {
                        Ok(s) => s.to_string(),
                        Err(e) => format!("wait failed: {e}"),
                    };
                    let mut exit = reaper_shared.exit.lock().unwrap_or_else(|p| p.into_inner());
                    *exit = Some(status);
                    reaper_shared.cv.notify_all();
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            })
            .context("cannot start the postmaster reaper thread")?;
        let pid = match rx.recv() {
            Ok(Ok(pid)) => pid,
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(anyhow::Error::new(e).context(format!("cannot start {display}")));
            }
            Err(_) => {
                let _ = thread.join();
                anyhow::bail!("the postmaster reaper thread ended unexpectedly");
            }
        };
        Ok(Postmaster {
            pid,
            shared,
            thread: Some(thread),
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// `Some(status)` once the postmaster has exited and been reaped.
    pub fn exit_status(&self) -> Option<String> {
        self.shared
            .exit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn signal(&self, sig: Signal) {
        if self.exit_status().is_none() {
            let _ = kill(Pid::from_raw(self.pid as i32), sig);
        }
    }

    fn wait_blocking(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut exit = self.shared.exit.lock().unwrap_or_else(|p| p.into_inner());
        while exit.is_none() {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            exit = self
                .shared
                .cv
                .wait_timeout(exit, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }

    async fn wait_async(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.exit_status().is_none() {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    /// Fast shutdown (SIGINT: abort transactions, checkpoint), escalating to immediate
    /// (SIGQUIT) and SIGKILL if it takes too long.
    pub async fn stop_fast(mut self) -> anyhow::Result<()> {
        let steps = [
            (Signal::SIGINT, Duration::from_secs(60)),
            (Signal::SIGQUIT, Duration::from_secs(10)),
            (Signal::SIGKILL, Duration::from_secs(10)),
        ];
        for (sig, wait) in steps {
            self.signal(sig);
            if self.wait_async(wait).await {
                self.join();
                return Ok(());
            }
        }
        anyhow::bail!("postgres (pid {}) did not exit after SIGKILL", self.pid)
    }

    /// Immediate shutdown for `Drop` and error paths: SIGQUIT, then SIGKILL.
    pub fn stop_now(mut self) {
        self.stop_now_inner();
    }

    fn stop_now_inner(&mut self) {
        if self.thread.is_none() {
            return;
        }
        for (sig, wait) in [
            (Signal::SIGQUIT, Duration::from_secs(10)),
            (Signal::SIGKILL, Duration::from_secs(10)),
        ] {
            self.signal(sig);
            if self.wait_blocking(wait) {
                self.join();
                return;
            }
        }
        eprintln!(
            "warning: embedded postgres (pid {}) did not exit after SIGKILL",
            self.pid
        );
    }

    fn join(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Postmaster {
    fn drop(&mut self) {
        self.stop_now_inner();
    }
}

/// The port was taken between choosing it and postgres binding it.
#[derive(Debug, thiserror::Error)]
#[error("port already in use; server log:\n{0}")]
pub struct PortConflict(pub String);

pub fn is_port_conflict(e: &anyhow::Error) -> bool {
    e.chain()
        .any(|c| c.downcast_ref::<PortConflict>().is_some())
}

/// A currently free TCP port on 127.0.0.1 (the OS picks it).
pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .context("cannot bind a loopback port to find a free one")?;
    Ok(l.local_addr()?.port())
}

/// A per-run password for the loopback TCP listener.
pub fn random_password() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), 32)
}

pub fn read_log_from(path: &Path, offset: u64) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    let start = (offset as usize).min(bytes.len());
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

fn pid_alive(pid: i32) -> bool {
    pid > 0 && Path::new(&format!("/proc/{pid}")).exists()
}

/// Remove run directories left by a bench that was SIGKILLed (its postgres died with it
/// through the parent-death signal, but nobody removed the directory).
pub fn remove_stale_run_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with(RUN_DIR_PREFIX) {
            continue;
        }
        let dir: PathBuf = entry.path();
        let owner = std::fs::read_to_string(dir.join("owner.pid"))
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok());
        let Some(owner) = owner else { continue };
        let postmaster = std::fs::read_to_string(dir.join("data").join("postmaster.pid"))
            .ok()
            .and_then(|s| s.lines().next().and_then(|l| l.trim().parse::<i32>().ok()));
        if pid_alive(owner) || postmaster.is_some_and(pid_alive) {
            continue;
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
