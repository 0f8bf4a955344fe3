//! `dock save` and `dock load`: arguments and the glue to [`crate::archive`].

use crate::archive::{self, ArchiveFormat};
use crate::commands::find_names;
use crate::reference::Reference;
use crate::store::{Store, DEFAULT_ROOT};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  dock save -o bb.tar busybox\n  \
dock save --format oci-archive -o bb-oci.tar busybox:latest\n  \
dock save busybox | gzip > bb.tar.gz\n\n\
docker-archive is `docker save`'s format (layers uncompressed); oci-archive is a tar of an OCI \
image layout (blobs byte for byte, digests unchanged). Both load with `dock load`, `podman load`, \
`docker load` (docker-archive) and skopeo.")]
pub struct SaveArgs {
    /// Store root.
    #[arg(long, env = "DOCK_ROOT", default_value = DEFAULT_ROOT)]
    root: PathBuf,
    /// Write to this file instead of stdout.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Archive format.
    #[arg(long, value_enum, default_value = "docker-archive")]
    format: ArchiveFormat,
    /// Images (names or ids).
    #[arg(required = true)]
    images: Vec<String>,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Reads docker-archive and oci-archive tars, plain or gzip-compressed, and \
names the images as the archive does (RepoTags; or the full reference in the OCI index's \
org.opencontainers.image.ref.name / io.containerd.image.name)."
)]
pub struct LoadArgs {
    /// Store root.
    #[arg(long, env = "DOCK_ROOT", default_value = DEFAULT_ROOT)]
    root: PathBuf,
    /// Read from this file instead of stdin.
    #[arg(short, long)]
    input: Option<PathBuf>,
    /// Print only errors.
    #[arg(short, long)]
    quiet: bool,
}

pub fn save(a: SaveArgs) -> Result<()> {
    let store =
        Store::open(&a.root).with_context(|| format!("opening the store {}", a.root.display()))?;
    let mut saved = Vec::new();
    for i in &a.images {
        let named = find_names(&store, i)?;
        for n in named {
            let image = store.open_image(&n)?;
            let name = Reference::parse(&n.name)
                .map(|r| r.to_string())
                .unwrap_or_default();
            saved.push(archive::save::Saved { image, name });
        }
    }
    let scratch = store
        .root()
        .join("ingest")
        .join(format!("save-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let result = match &a.output {
        Some(path) => {
            let tmp = path.with_extension(format!("dock-save-{}", std::process::id()));
            let file =
                std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()));
            file.and_then(|f| {
                let f = archive::save::save(
                    &store,
                    &saved,
                    a.format,
                    std::io::BufWriter::new(f),
                    &scratch,
                )?;
                f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
                std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
            })
            .inspect_err(|_| {
                let _ = std::fs::remove_file(&tmp);
            })
        }
        None => {
            if nix::unistd::isatty(std::io::stdout()).unwrap_or(false) {
                let _ = std::fs::remove_dir_all(&scratch);
                bail!("refusing to write an archive to a terminal: use -o FILE or redirect stdout");
            }
            let out = std::io::BufWriter::new(std::io::stdout().lock());
            archive::save::save(&store, &saved, a.format, out, &scratch)
                .map_err(anyhow::Error::from)
                .and_then(|mut w| Ok(w.flush()?))
        }
    };
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

pub fn load(a: LoadArgs) -> Result<()> {
    let store =
        Store::open(&a.root).with_context(|| format!("opening the store {}", a.root.display()))?;
    let loaded = match &a.input {
        Some(path) => {
            let f =
                std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
            archive::load::load(&store, f)
        }
        None => archive::load::load(&store, std::io::stdin().lock()),
    }
    .with_context(|| match &a.input {
        Some(p) => format!("loading {}", p.display()),
        None => "loading from stdin".into(),
    })?;
    if !a.quiet {
        for l in loaded {
            if l.names.is_empty() {
                println!("Loaded image ID: {}", l.id);
            }
            for n in l.names {
                let shown = Reference::parse(&n)
                    .map(|r| match &r.tag {
                        Some(t) => format!("{}:{t}", r.familiar_repository()),
                        None => n.clone(),
                    })
                    .unwrap_or(n);
                println!("Loaded image: {shown}");
            }
        }
    }
    Ok(())
}
