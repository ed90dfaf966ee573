//! Portable checkpoint archives: a tar (optionally zstd-compressed) with the CRIU images and
//! metadata of a checkpoint (and of its parents, for incremental dumps) plus the bundle a
//! restore needs — the container's config.json and, unless asked not to, its rootfs — so a
//! checkpoint exported from one daemon restores on another.
//!
//! Layout: `checkpoints/<name>/…` for the checkpoint and each parent, `bundle/config.json`,
//! `bundle/rootfs/…`. An import unpacks under `<root>/checkpoints/<id>/` and points the
//! checkpoint's bundle at the unpacked `bundle/` when the archive has one.

use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use crate::checkpoint::{CheckpointInfo, META_FILE, SPEC_FILE};
use crate::error::{Error, Result};
use crate::supervisor::Runtime;

/// zstd frames start with these bytes.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

impl Runtime {
    /// The checkpoint and its parents, newest first.
    fn checkpoint_chain(&self, id: &str, name: &str) -> Result<Vec<CheckpointInfo>> {
        let mut chain = vec![self.checkpoint_info(id, name)?];
        while let Some(parent) = chain.last().and_then(|c| c.parent.clone()) {
            if chain.len() > 64 || chain.iter().any(|c| c.name == parent) {
                return Err(Error::internal(format!("checkpoint {name}: parent chain loops")));
            }
            chain.push(self.checkpoint_info(id, &parent)?);
        }
        Ok(chain)
    }

    /// Checks that an export can be made (before any byte is streamed).
    pub fn archive_check(&self, id: &str, name: &str) -> Result<()> {
        self.checkpoint_chain(id, name).map(|_| ())
    }

    /// Writes the archive of checkpoint `name` of container `id` to `out`.
    pub fn export_checkpoint(
        &self,
        id: &str,
        name: &str,
        with_rootfs: bool,
        zstd: bool,
        out: impl Write,
    ) -> Result<()> {
        let chain = self.checkpoint_chain(id, name)?;
        let io = |e: std::io::Error| Error::internal(format!("writing the archive: {e}"));
        if zstd {
            let mut enc = zstd::Encoder::new(out, 3).map_err(io)?;
            self.write_tar(id, &chain, with_rootfs, &mut enc)?;
            enc.finish().map_err(io)?;
        } else {
            self.write_tar(id, &chain, with_rootfs, out)?;
        }
        Ok(())
    }

    fn write_tar(&self, id: &str, chain: &[CheckpointInfo], with_rootfs: bool, out: impl Write) -> Result<()> {
        let io = |e: std::io::Error| Error::internal(format!("writing the archive: {e}"));
        let mut tar = tar::Builder::new(out);
        tar.follow_symlinks(false);
        for info in chain {
            tar.append_dir_all(
                format!("checkpoints/{}", info.name),
                self.checkpoint_dir(id, &info.name),
            )
            .map_err(io)?;
        }
        // The bundle: the checkpoint's spec, with the rootfs made relative to the bundle.
        let newest = &chain[0];
        let spec_body = std::fs::read(self.checkpoint_dir(id, &newest.name).join(SPEC_FILE)).map_err(io)?;
        let mut config: serde_json::Value =
            serde_json::from_slice(&spec_body).map_err(|e| Error::internal(format!("checkpoint spec: {e}")))?;
        let rootfs = PathBuf::from(config["root"]["path"].as_str().unwrap_or_default());
        if with_rootfs {
            config["root"]["path"] = serde_json::Value::from("rootfs");
        }
        // The cgroups path is per container; the importing daemon picks its own.
        if let Some(linux) = config.get_mut("linux").and_then(|l| l.as_object_mut()) {
            linux.remove("cgroupsPath");
        }
        let body = serde_json::to_vec_pretty(&config).map_err(|e| Error::internal(e.to_string()))?;
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(chrono::Utc::now().timestamp().max(0) as u64);
        header.set_cksum();
        tar.append_data(&mut header, "bundle/config.json", body.as_slice())
            .map_err(io)?;
        if with_rootfs {
            if !rootfs.is_dir() {
                return Err(Error::conflict(format!(
                    "the rootfs {rootfs:?} of the checkpointed bundle is gone: export with ?rootfs=false"
                )));
            }
            tar.append_dir_all("bundle/rootfs", &rootfs).map_err(io)?;
        }
        tar.finish().map_err(io)?;
        Ok(())
    }

    /// Unpacks an archive as checkpoint `name` of container `id` (which need not exist).
    pub fn import_checkpoint(&self, id: &str, name: &str, input: impl Read) -> Result<CheckpointInfo> {
        crate::id::validate_id("container id", id)?;
        crate::id::validate_id("checkpoint name", name)?;
        let base = self.cfg.root_dir.join("checkpoints").join(id);
        if base.join(name).exists() {
            return Err(Error::conflict(format!(
                "container {id} already has a checkpoint {name}"
            )));
        }
        // Unique per import: two imports of the same name never share (or delete) a staging dir.
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let staging = base.join(format!(".import-{name}-{}-{nonce:x}", std::process::id()));
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging)?;
        let result = self.unpack(id, name, &base, &staging, input);
        let _ = std::fs::remove_dir_all(&staging);
        if result.is_err() {
            let _ = std::fs::remove_dir(&base); // only if empty
        }
        result
    }

    fn unpack(&self, id: &str, name: &str, base: &Path, staging: &Path, input: impl Read) -> Result<CheckpointInfo> {
        let bad = |m: String| Error::invalid(format!("invalid checkpoint archive: {m}"));
        let mut input = std::io::BufReader::new(input);
        let head = {
            use std::io::BufRead;
            input
                .fill_buf()
                .map_err(|e| bad(e.to_string()))?
                .get(..4)
                .map(|h| h == ZSTD_MAGIC)
                .unwrap_or(false)
        };
        let reader: Box<dyn Read> = if head {
            Box::new(zstd::Decoder::with_buffer(input).map_err(|e| bad(e.to_string()))?)
        } else {
            Box::new(input)
        };
        let mut tar = tar::Archive::new(reader);
        tar.set_preserve_permissions(true);
        tar.set_overwrite(false);
        for entry in tar.entries().map_err(|e| bad(e.to_string()))? {
            let mut entry = entry.map_err(|e| bad(e.to_string()))?;
            let path = entry.path().map_err(|e| bad(e.to_string()))?.into_owned();
            let ok = path.components().all(|c| matches!(c, Component::Normal(_)))
                && matches!(path.components().next(), Some(Component::Normal(c)) if c == "checkpoints" || c == "bundle");
            if !ok {
                return Err(bad(format!("unexpected entry {path:?}")));
            }
            entry.unpack_in(staging).map_err(|e| bad(format!("{path:?}: {e}")))?;
        }
        // The newest checkpoint is the one whose name nobody names as parent.
        let cps = staging.join("checkpoints");
        let mut infos: Vec<CheckpointInfo> = std::fs::read_dir(&cps)
            .map_err(|_| bad("no checkpoints/ directory".into()))?
            .flatten()
            .filter_map(|e| serde_json::from_slice(&std::fs::read(e.path().join(META_FILE)).ok()?).ok())
            .collect();
        let parents: Vec<String> = infos.iter().filter_map(|i| i.parent.clone()).collect();
        infos.retain(|i| !parents.contains(&i.name));
        let newest = match infos.as_slice() {
            [one] => one.clone(),
            _ => return Err(bad("expected exactly one newest checkpoint".into())),
        };
        let has_bundle = staging.join("bundle/config.json").exists();
        std::fs::create_dir_all(base)?;
        // Parents keep their names; the newest takes the name asked for.
        for e in std::fs::read_dir(&cps)?.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            let target = if n == newest.name {
                base.join(name)
            } else {
                base.join(&n)
            };
            if target.exists() {
                return Err(Error::conflict(format!("container {id} already has a checkpoint {n}")));
            }
            std::fs::rename(e.path(), &target)?;
        }
        let dir = base.join(name);
        let mut info = newest;
        info.name = name.to_owned();
        info.container_id = id.to_owned();
        if has_bundle {
            std::fs::rename(staging.join("bundle"), dir.join("bundle"))?;
            info.bundle_path = dir.join("bundle");
        }
        std::fs::write(
            dir.join(META_FILE),
            serde_json::to_vec_pretty(&info).map_err(|e| Error::internal(e.to_string()))?,
        )?;
        self.emit(crate::events::Event::new("createCheckpoint", id, None, None));
        self.checkpoint_info(id, name)
    }
}
