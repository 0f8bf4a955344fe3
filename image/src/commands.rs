//! The store and registry-client subcommands: argument definitions and the thin glue from them
//! to [`crate::store`], [`crate::pull`] and [`crate::push`].

use crate::listing::{table, ImageRow};
use crate::progress::Progress;
use crate::pull::RemoteOptions;
use crate::reference::{Reference, DEFAULT_DOMAIN};
use crate::remote::credentials::{self, Credentials};
use crate::snapshot::Snapshots;
use crate::store::names::NamedImage;
use crate::store::{Store, DEFAULT_ROOT};
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use std::io::BufRead;
use std::path::PathBuf;

/// Where the store lives.
#[derive(Args, Debug)]
pub struct StoreArgs {
    /// Store root.
    #[arg(long, env = "DOCK_ROOT", default_value = DEFAULT_ROOT)]
    pub root: PathBuf,
}

impl StoreArgs {
    fn open(&self) -> Result<Store> {
        Store::open(&self.root)
            .with_context(|| format!("opening the store {}", self.root.display()))
    }
}

/// How to reach registries.
#[derive(Args, Debug)]
pub struct RemoteArgs {
    /// Allow plain http to this registry (`host[:port]`); loopback always may.
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure: Vec<String>,
}

impl RemoteArgs {
    fn options(&self) -> Result<RemoteOptions> {
        Ok(RemoteOptions {
            insecure: self.insecure.clone(),
            config_path: credentials::config_path()?,
        })
    }
}

#[derive(Args, Debug)]
pub struct PullArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    remote: RemoteArgs,
    /// Also unpack the layers into snapshots now (otherwise the first `run` does it).
    #[arg(long)]
    unpack: bool,
    /// Image reference (`[host[:port]/]path[:tag][@digest]`).
    image: String,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    remote: RemoteArgs,
    /// Blobs larger than this many bytes go up in chunks of this size.
    #[arg(long, default_value_t = crate::push::DEFAULT_CHUNK_SIZE)]
    chunk_size: u64,
    /// Image name in the store, which is also where it goes.
    image: String,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(Args, Debug)]
pub struct ImagesArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

#[derive(Args, Debug)]
pub struct TagArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Existing image.
    source: String,
    /// New name.
    target: String,
}

#[derive(Args, Debug)]
pub struct RmiArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Remove every name of an image given by ID.
    #[arg(short, long)]
    force: bool,
    /// Images to remove (names or IDs).
    #[arg(required = true)]
    images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    #[command(flatten)]
    remote: RemoteArgs,
    /// User name.
    #[arg(short, long)]
    username: String,
    /// Read the password from stdin (the only way: passwords on command lines leak).
    #[arg(long, required = true)]
    password_stdin: bool,
    /// Registry (`host[:port]`), docker.io when omitted.
    server: Option<String>,
}

#[derive(Args, Debug)]
pub struct LogoutArgs {
    /// Registry (`host[:port]`), docker.io when omitted.
    server: Option<String>,
}

fn parse_ref(s: &str) -> Result<Reference> {
    Reference::parse(s).map_err(Into::into)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().context("starting the async runtime")
}

pub fn pull(a: PullArgs) -> Result<()> {
    let store = a.store.open()?;
    let r = parse_ref(&a.image)?;
    let opts = a.remote.options()?;
    let progress = Progress::new();
    let desc = runtime()?.block_on(crate::pull::pull(&store, &r, &opts, &progress))?;
    println!("Digest: {}", desc.digest);
    println!("Status: downloaded {r}");
    if a.unpack {
        let layers = store.image_layers(&r)?;
        let dirs = Snapshots::open(&store)?.ensure_image(&store, &layers)?;
        println!("Unpacked: {} layers", dirs.len());
    }
    Ok(())
}

pub fn push(a: PushArgs) -> Result<()> {
    let store = a.store.open()?;
    let r = parse_ref(&a.image)?;
    let opts = a.remote.options()?;
    let progress = Progress::new();
    let desc = runtime()?.block_on(crate::push::push(
        &store,
        &r,
        &opts,
        &progress,
        a.chunk_size,
    ))?;
    println!(
        "{}: digest: {} size: {}",
        r.tag.as_deref().unwrap_or("<none>"),
        desc.digest,
        desc.size
    );
    Ok(())
}

pub fn images(a: ImagesArgs) -> Result<()> {
    let store = a.store.open()?;
    let mut rows = Vec::new();
    for named in store.list_names()? {
        let image = store.open_image(&named)?;
        let config = store.image_config(&image)?;
        rows.push(ImageRow::new(&image, &config));
    }
    match a.format {
        Format::Table => print!("{}", table(&rows, std::time::SystemTime::now())),
        Format::Json => {
            for r in rows {
                println!("{}", serde_json::to_string(&r)?);
            }
        }
    }
    Ok(())
}

/// Names an argument refers to: the image it names, else (like docker) the images whose ID —
/// the config digest, with or without `sha256:`, or a prefix of at least 4 hex digits — matches.
pub fn find_names(store: &Store, arg: &str) -> Result<Vec<NamedImage>> {
    let by_name = parse_ref(arg).and_then(|r| Ok(store.resolve(&r)?));
    let hex = arg.strip_prefix("sha256:").unwrap_or(arg);
    let id_like = hex.len() >= 4 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    match by_name {
        Ok(n) => return Ok(vec![n]),
        Err(e) if !id_like => return Err(e),
        Err(_) => {}
    }
    let mut found = Vec::new();
    for named in store.list_names()? {
        let image = store.open_image(&named)?;
        if image.manifest.config.digest.hex().starts_with(hex) {
            found.push(named);
        }
    }
    if found.is_empty() {
        bail!("no such image: {arg}");
    }
    Ok(found)
}

pub fn tag(a: TagArgs) -> Result<()> {
    let store = a.store.open()?;
    let mut found = find_names(&store, &a.source)?;
    let src = found.remove(0);
    let dst = parse_ref(&a.target)?;
    if dst.digest.is_some() {
        bail!("a tag target cannot name a digest");
    }
    store.set_name(&dst, &src.manifest, src.source())?;
    Ok(())
}

pub fn rmi(a: RmiArgs) -> Result<()> {
    let store = a.store.open()?;
    let mut failed = false;
    for i in &a.images {
        let result = find_names(&store, i).and_then(|names| {
            if names.len() > 1 && !a.force {
                bail!(
                    "image {i} is referenced by {} names: remove them by name or use --force",
                    names.len()
                );
            }
            let mut removed = Vec::new();
            for n in names {
                removed.extend(store.remove_name(&parse_ref(&n.name)?)?);
                println!("Untagged: {}", n.name);
            }
            Ok(removed)
        });
        match result {
            Ok(removed) => {
                for d in removed {
                    println!("Deleted: {d}");
                }
            }
            Err(e) => {
                eprintln!("Error: {e:#}");
                failed = true;
            }
        }
    }
    // Snapshots of layer chains no image names any more go too (kept while a container
    // still uses them, and skipped while a pull, push or unpack runs).
    let snapshots = Snapshots::open(&store)?;
    for s in snapshots.sweep_unreferenced(&store)? {
        println!("Deleted snapshot: {s}");
    }
    if failed {
        bail!("some images were not removed");
    }
    Ok(())
}

fn server_domain(server: Option<&str>) -> Result<String> {
    let s = server.unwrap_or(DEFAULT_DOMAIN);
    let s = s
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let s = s.strip_suffix("/v1").or(s.strip_suffix("/v2")).unwrap_or(s);
    // Validate as a registry host by parsing a reference on it.
    let r = parse_ref(&format!("{s}/probe")).with_context(|| format!("bad registry {s:?}"))?;
    if r.domain != s && !(s == "index.docker.io" && r.domain == DEFAULT_DOMAIN) {
        bail!("bad registry {s:?}");
    }
    Ok(r.domain)
}

pub fn login(a: LoginArgs) -> Result<()> {
    let domain = server_domain(a.server.as_deref())?;
    let mut password = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut password)
        .context("reading the password from stdin")?;
    let password = password.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        bail!("empty password on stdin");
    }
    let creds = Credentials {
        username: a.username,
        password,
    };
    let opts = a.remote.options()?;
    let probe = parse_ref(&format!("{domain}/probe"))?;
    runtime()?
        .block_on(async {
            let (client, base) = crate::remote::connect(&domain, &opts.insecure).await?;
            crate::remote::Session::new(client, base, &probe.path, vec![], Some(creds.clone()))
                .ping()
                .await
        })
        .with_context(|| format!("logging in to {domain}"))?;
    credentials::save(&opts.config_path, &domain, &creds)?;
    println!("Login Succeeded");
    Ok(())
}

pub fn logout(a: LogoutArgs) -> Result<()> {
    let domain = server_domain(a.server.as_deref())?;
    let path = credentials::config_path()?;
    if credentials::remove(&path, &domain)? {
        println!("Removing login credentials for {domain}");
    } else {
        println!("Not logged in to {domain}");
    }
    Ok(())
}
