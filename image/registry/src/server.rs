//! Starting the registry: loading users and configuration, refusing anonymous non-loopback
//! binds, plain or TLS (rustls) listeners, the JSON access log and upload expiry.

use crate::access::Access;
use crate::api::{router, AuthenticatedUser, Registry};
use crate::config::{Config, ConfigError};
use crate::gc::{collect, GcOptions};
use crate::root_lock::{lock_root, LockMode, RootLock, RootLockError};
use crate::storage::fs::FsStorage;
use crate::storage::Storage;
use crate::token::TokenSigner;
use crate::users::{Users, UsersError};
use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::Response;
use axum::serve::ListenerExt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How to run a registry.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Listen address (port 0 picks a free port).
    pub addr: SocketAddr,
    /// Storage root directory.
    pub root: PathBuf,
    /// Optional JSON configuration file.
    pub config: Option<PathBuf>,
    /// TLS certificate chain (PEM), with `tls_key`.
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// Allow serving anonymously on a non-loopback address.
    pub insecure_anonymous: bool,
}

/// Why the registry could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Anonymous access on a non-loopback address without `--insecure-anonymous`.
    #[error("refusing to serve anonymously on non-loopback {0}: add users (dock registry user add) or pass --insecure-anonymous")]
    AnonymousNonLoopback(SocketAddr),
    /// Only one of the TLS files given.
    #[error("--tls-cert and --tls-key must be given together")]
    TlsIncomplete,
    /// TLS setup failed.
    #[error("TLS: {0}")]
    Tls(std::io::Error),
    /// Configuration problem.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Users file problem.
    #[error(transparent)]
    Users(#[from] UsersError),
    /// The storage root is locked by offline maintenance.
    #[error(transparent)]
    Locked(#[from] RootLockError),
    /// Socket or storage I/O.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Path of the users file inside a storage root.
pub fn users_file(root: &std::path::Path) -> PathBuf {
    root.join("users.json")
}

/// A started registry.
pub struct RunningServer {
    /// The bound address.
    pub addr: SocketAddr,
    /// The shared state (for in-process GC and tests).
    pub registry: Arc<Registry<FsStorage>>,
    /// Resolves when the server stops (with its error, if any).
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
    expiry: tokio::task::JoinHandle<()>,
    /// Shared lock on the root, keeping offline GC out while serving.
    _root_lock: RootLock,
}

impl RunningServer {
    /// Stop serving.
    pub fn abort(&self) {
        self.task.abort();
        self.expiry.abort();
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.expiry.abort();
    }
}

/// Open the registry state on a storage root (also used offline, e.g. by `dock registry gc`).
pub fn open_registry(
    root: &Path,
    config: Option<&Path>,
    tls: bool,
) -> Result<Arc<Registry<FsStorage>>, ServeError> {
    let config = match config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    std::fs::create_dir_all(root)?;
    let users = Users::load(&users_file(root))?;
    let signer = TokenSigner::new(&config.token_service, config.token_ttl_secs)?;
    Ok(Arc::new(Registry {
        storage: FsStorage::open(root)?,
        access: Access::new(users, config, signer),
        gc_lock: tokio::sync::RwLock::new(()),
        tls,
    }))
}

async fn access_log(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().to_string();
    let remote = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.to_string());
    let path = req.uri().path().to_string();
    let resp = next.run(req).await;
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let line = serde_json::json!({
        "ts_ms": ts,
        "method": method,
        "path": path,
        "status": resp.status().as_u16(),
        "remote": remote,
        "user": resp.extensions().get::<AuthenticatedUser>().map(|u| u.0.clone()),
        "ms": start.elapsed().as_secs_f64() * 1000.0,
    });
    eprintln!("{line}");
    resp
}

/// Background upkeep: expire idle uploads and, if configured, run GC on a schedule.
fn maintenance_task<S: Storage>(reg: Arc<Registry<S>>) -> tokio::task::JoinHandle<()> {
    let config = reg.access.config();
    let idle = Duration::from_secs(config.upload_expiry_secs);
    let every = (idle / 4).clamp(Duration::from_secs(1), Duration::from_secs(600));
    let gc_every = Duration::from_secs(config.gc_interval_secs);
    let gc_opts = GcOptions {
        grace: Duration::from_secs(config.gc_grace_secs),
        dry_run: false,
    };
    tokio::spawn(async move {
        let mut last_gc = Instant::now();
        loop {
            tokio::time::sleep(every.min(if gc_every.is_zero() { every } else { gc_every })).await;
            if let Err(e) = reg.storage.upload_expire(idle).await {
                eprintln!("upload expiry: {e}");
            }
            if !gc_every.is_zero() && last_gc.elapsed() >= gc_every {
                last_gc = Instant::now();
                match collect(&reg, &gc_opts).await {
                    Ok(r) => eprintln!(
                        "gc: {} blobs swept, {} tags pruned, {} manifests expired",
                        r.blobs_swept.len(),
                        r.tags_pruned.len(),
                        r.manifests_expired.len()
                    ),
                    Err(e) => eprintln!("gc: {e}"),
                }
            }
        }
    })
}

/// Bind and start serving in the background.
pub async fn start(opts: ServeOptions) -> Result<RunningServer, ServeError> {
    let root_lock = lock_root(&opts.root, LockMode::Serving)?;
    let reg = open_registry(&opts.root, opts.config.as_deref(), opts.tls_cert.is_some())?;
    if reg.access.is_open() && !opts.addr.ip().is_loopback() && !opts.insecure_anonymous {
        return Err(ServeError::AnonymousNonLoopback(opts.addr));
    }
    let mut app = router(reg.clone());
    if reg.access.config().access_log {
        app = app.layer(axum::middleware::from_fn(access_log));
    }
    let expiry = maintenance_task(reg.clone());
    let (addr, task) = match (&opts.tls_cert, &opts.tls_key) {
        (None, None) => {
            let listener = tokio::net::TcpListener::bind(opts.addr).await?;
            let addr = listener.local_addr()?;
            // Small answers (HEAD, manifests, upload sessions) go out at once instead of
            // waiting on Nagle for the client's delayed ACK.
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let task = tokio::spawn(async move {
                axum::serve(
                    listener,
                    app.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .await
            });
            (addr, task)
        }
        (Some(cert), Some(key)) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                .await
                .map_err(ServeError::Tls)?;
            let listener = std::net::TcpListener::bind(opts.addr)?;
            listener.set_nonblocking(true)?;
            let addr = listener.local_addr()?;
            let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(tls)
                .acceptor(axum_server::accept::NoDelayAcceptor::new());
            let server = axum_server::from_tcp(listener).acceptor(acceptor);
            let task = tokio::spawn(async move {
                server
                    .serve(app.into_make_service_with_connect_info::<SocketAddr>())
                    .await
            });
            (addr, task)
        }
        _ => return Err(ServeError::TlsIncomplete),
    };
    Ok(RunningServer {
        addr,
        registry: reg,
        task,
        expiry,
        _root_lock: root_lock,
    })
}
