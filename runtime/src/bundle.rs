//! Bundles: load `config.json`, refuse what ctrd does not honour (naming the field), and produce
//! the normalized spec that libcontainer is given (absolute rootfs, a cgroups path, no seccomp —
//! ctrd compiles and installs seccomp itself, see `seccomp`).

/// The cgroup every container goes under when its bundle names none (`/ctrd/<id>`).
pub const DEFAULT_CGROUP_PARENT: &str = "/ctrd";

use std::path::{Path, PathBuf};
use std::sync::Arc;

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::seccomp::{self, CompiledSeccomp};

/// A bundle checked and normalized for one container.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The bundle directory as the client gave it.
    pub path: PathBuf,
    /// The spec as libcontainer must see it.
    pub spec: Spec,
    /// The seccomp profile compiled to BPF, if the bundle has one.
    pub seccomp: Option<Arc<CompiledSeccomp>>,
    /// The profile as the bundle gave it (kept to recompile it after a daemon restart).
    pub seccomp_profile: Option<oci_spec::runtime::LinuxSeccomp>,
    /// The absolute cgroups path of the container.
    pub cgroups_path: PathBuf,
}

impl Bundle {
    /// Whether the container gets a network namespace of its own.
    pub fn new_netns(&self) -> bool {
        self.spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_ref())
            .is_some_and(|ns| {
                ns.iter()
                    .any(|n| n.typ() == LinuxNamespaceType::Network && n.path().is_none())
            })
    }
}

/// Fields of the OCI runtime spec that ctrd knows but does not honour. A bundle that sets one is
/// refused with 400 naming the field: never silently ignored.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("hooks", "OCI hooks are not supported by ctrd"),
    ("solaris", "only Linux containers are supported"),
    ("windows", "only Linux containers are supported"),
    ("vm", "VM-based containers are not supported"),
    ("zos", "only Linux containers are supported"),
    ("process.apparmorProfile", "AppArmor is not supported by ctrd"),
    ("process.selinuxLabel", "SELinux is not supported by ctrd"),
    ("linux.mountLabel", "SELinux is not supported by ctrd"),
    ("linux.intelRdt", "Intel RDT is not supported by ctrd"),
    (
        "linux.netDevices",
        "moving network devices into a container is not supported by ctrd",
    ),
    ("linux.memoryPolicy", "NUMA memory policy is not supported by ctrd"),
    ("linux.timeOffsets", "time namespace offsets are not supported by ctrd"),
    (
        "linux.resources.network",
        "net_cls/net_prio limits are not supported by ctrd",
    ),
    ("linux.resources.rdma", "RDMA limits are not supported by ctrd"),
    (
        "linux.resources.unified",
        "raw cgroup v2 'unified' settings are not supported by ctrd",
    ),
    (
        "linux.seccomp.listenerPath",
        "seccomp user notification is not supported by ctrd",
    ),
    (
        "linux.seccomp.listenerMetadata",
        "seccomp user notification is not supported by ctrd",
    ),
];

/// Reads `<bundle>/config.json` and checks it. `id` names the container (for the default
/// cgroups path `/ctrd/<id>`).
pub fn load(id: &str, bundle: &Path) -> Result<Bundle> {
    if !bundle.is_absolute() {
        return Err(Error::invalid(format!(
            "bundlePath {bundle:?} must be an absolute path"
        )));
    }
    let meta = std::fs::metadata(bundle).map_err(|e| Error::invalid(format!("bundlePath {bundle:?}: {e}")))?;
    if !meta.is_dir() {
        return Err(Error::invalid(format!("bundlePath {bundle:?} is not a directory")));
    }
    let config_path = bundle.join("config.json");
    let text =
        std::fs::read(&config_path).map_err(|e| Error::invalid(format!("invalid bundle: {config_path:?}: {e}")))?;
    let raw: Value = serde_json::from_slice(&text)
        .map_err(|e| Error::invalid(format!("invalid bundle: {config_path:?} is not valid JSON: {e}")))?;
    check_unsupported(&raw)?;
    let spec: Spec =
        serde_json::from_value(raw).map_err(|e| Error::invalid(format!("invalid bundle: {config_path:?}: {e}")))?;
    normalize(id, bundle, spec)
}

/// Refuses known-but-unsupported fields, naming the first one found.
pub fn check_unsupported(raw: &Value) -> Result<()> {
    for (field, why) in UNSUPPORTED {
        let mut cur = Some(raw);
        for part in field.split('.') {
            cur = cur.and_then(|v| v.get(part));
        }
        match cur {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) if m.is_empty() => {}
            Some(Value::Array(a)) if a.is_empty() => {}
            Some(Value::String(s)) if s.is_empty() => {}
            Some(_) => return Err(Error::invalid(format!("unsupported config field {field}: {why}"))),
        }
    }
    Ok(())
}

fn normalize(id: &str, bundle: &Path, mut spec: Spec) -> Result<Bundle> {
    if !spec.version().starts_with("1.") {
        return Err(Error::invalid(format!(
            "unsupported config field ociVersion: {:?} (only 1.x is supported)",
            spec.version()
        )));
    }

    // root: relative paths are relative to the bundle; it must exist.
    let mut root = spec
        .root()
        .clone()
        .ok_or_else(|| Error::invalid("invalid bundle: config field root is missing"))?;
    let rootfs = if root.path().is_absolute() {
        root.path().clone()
    } else {
        bundle.join(root.path())
    };
    let rootfs = std::fs::canonicalize(&rootfs)
        .map_err(|e| Error::invalid(format!("invalid bundle: root.path {:?}: {e}", root.path())))?;
    if !rootfs.is_dir() {
        return Err(Error::invalid(format!(
            "invalid bundle: root.path {rootfs:?} is not a directory"
        )));
    }
    root.set_path(rootfs.clone());
    spec.set_root(Some(root));

    // process
    let process = spec
        .process()
        .clone()
        .ok_or_else(|| Error::invalid("invalid bundle: config field process is missing"))?;
    if process.terminal() == Some(true) {
        return Err(Error::invalid(
            "unsupported config field process.terminal: a container's init cannot have a terminal; \
             use an exec with \"terminal\": true for an interactive shell",
        ));
    }
    let args = process.args().clone().unwrap_or_default();
    if args.is_empty() || args[0].is_empty() {
        return Err(Error::invalid("invalid bundle: process.args must name a program"));
    }
    if !process.cwd().is_absolute() {
        return Err(Error::invalid(format!(
            "invalid bundle: process.cwd {:?} must be absolute",
            process.cwd()
        )));
    }

    // mounts
    let mounts = spec.mounts().clone().unwrap_or_default();
    for (i, m) in mounts.iter().enumerate() {
        if !m.destination().is_absolute() {
            return Err(Error::invalid(format!(
                "invalid bundle: mounts[{i}].destination {:?} must be absolute",
                m.destination()
            )));
        }
        let is_bind = m.typ().as_deref() == Some("bind")
            || m.options()
                .as_ref()
                .is_some_and(|o| o.iter().any(|x| x == "bind" || x == "rbind"));
        if is_bind {
            let src = m.source().clone().unwrap_or_default();
            let src = if src.is_absolute() { src } else { bundle.join(src) };
            if std::fs::symlink_metadata(&src).is_err() {
                return Err(Error::invalid(format!(
                    "invalid bundle: mounts[{i}].source {src:?} does not exist"
                )));
            }
        }
    }
    check_executable(&rootfs, &process, &mounts)?;

    // linux
    let mut linux = spec
        .linux()
        .clone()
        .ok_or_else(|| Error::invalid("invalid bundle: config field linux is missing"))?;
    let namespaces = linux.namespaces().clone().unwrap_or_default();
    if !namespaces.iter().any(|n| n.typ() == LinuxNamespaceType::Mount) {
        return Err(Error::invalid(
            "invalid bundle: linux.namespaces must include a \"mount\" namespace (ctrd never mounts into the host's)",
        ));
    }
    for (i, ns) in namespaces.iter().enumerate() {
        if ns.typ() == LinuxNamespaceType::Time {
            return Err(Error::invalid(format!(
                "unsupported config field linux.namespaces[{i}]: time namespaces are not supported by ctrd"
            )));
        }
    }
    let has_userns = namespaces
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none());
    if has_userns
        && (linux.uid_mappings().as_ref().is_none_or(|m| m.is_empty())
            || linux.gid_mappings().as_ref().is_none_or(|m| m.is_empty()))
    {
        return Err(Error::invalid(
            "invalid bundle: a user namespace needs linux.uidMappings and linux.gidMappings",
        ));
    }

    let cgroups_path = match linux.cgroups_path() {
        None => PathBuf::from(DEFAULT_CGROUP_PARENT).join(id),
        Some(p) => {
            let s = p.to_string_lossy();
            if s.contains(':') {
                return Err(Error::invalid(format!(
                    "unsupported config field linux.cgroupsPath: {s:?} is a systemd path; ctrd manages cgroupfs paths"
                )));
            }
            if p.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
                return Err(Error::invalid(format!(
                    "invalid bundle: linux.cgroupsPath {s:?} must not contain .."
                )));
            }
            let abs = if p.is_absolute() {
                p.clone()
            } else {
                Path::new("/").join(p)
            };
            if abs.components().count() < 2 {
                return Err(Error::invalid(format!(
                    "invalid bundle: linux.cgroupsPath {s:?} is the root cgroup; give a cgroup of the container's own"
                )));
            }
            abs
        }
    };
    linux.set_cgroups_path(Some(cgroups_path.clone()));

    let seccomp_profile = linux.seccomp().clone();
    let seccomp = match seccomp_profile.clone() {
        None => None,
        Some(profile) => {
            let wants_nnp = process.no_new_privileges() == Some(true);
            let has_sys_admin = process
                .capabilities()
                .as_ref()
                .and_then(|c| c.effective().as_ref())
                .is_some_and(|e| e.contains(&oci_spec::runtime::Capability::SysAdmin));
            if !wants_nnp && !has_sys_admin {
                return Err(Error::invalid(
                    "invalid bundle: linux.seccomp needs process.noNewPrivileges=true or CAP_SYS_ADMIN in process.capabilities.effective",
                ));
            }
            let compiled = seccomp::compile(&profile)
                .map_err(|e| Error::invalid(format!("invalid bundle: linux.seccomp: {e}")))?;
            Some(compiled)
        }
    };
    linux.set_seccomp(None);
    spec.set_linux(Some(linux));

    Ok(Bundle {
        path: bundle.to_path_buf(),
        spec,
        seccomp,
        seccomp_profile,
        cgroups_path,
    })
}

/// Looks for `process.args[0]` in the rootfs (through `PATH` when it has no slash). Symlinks are
/// not followed (they may be absolute inside the container). A program that might come from a
/// mount is not checked.
fn check_executable(
    rootfs: &Path,
    process: &oci_spec::runtime::Process,
    mounts: &[oci_spec::runtime::Mount],
) -> Result<()> {
    let Some(prog) = process.args().as_ref().and_then(|a| a.first()) else {
        return Ok(());
    };
    let under_mount = |dir: &Path| {
        mounts
            .iter()
            .any(|m| dir.starts_with(m.destination()) && m.destination() != Path::new("/"))
    };
    let exists = |p: &Path| std::fs::symlink_metadata(rootfs.join(p.strip_prefix("/").unwrap_or(p))).is_ok();
    if prog.contains('/') {
        let p = if prog.starts_with('/') {
            PathBuf::from(prog)
        } else {
            process.cwd().join(prog)
        };
        if exists(&p) || p.parent().is_some_and(under_mount) {
            return Ok(());
        }
        return Err(Error::invalid(format!(
            "invalid bundle: process.args[0] {prog:?} does not exist in the rootfs"
        )));
    }
    let path = process
        .env()
        .as_ref()
        .and_then(|env| env.iter().find_map(|e| e.strip_prefix("PATH=").map(str::to_owned)))
        .ok_or_else(|| Error::invalid("invalid bundle: process.env has no PATH to find process.args[0] in"))?;
    for dir in path.split(':').filter(|d| d.starts_with('/')) {
        let dir = Path::new(dir);
        if exists(&dir.join(prog)) || under_mount(dir) {
            return Ok(());
        }
    }
    Err(Error::invalid(format!(
        "invalid bundle: process.args[0] {prog:?} not found in the rootfs (PATH={path})"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base_config() -> Value {
        json!({
            "ociVersion": "1.0.2-dev",
            "process": {"terminal": false, "user": {"uid": 0, "gid": 0}, "args": ["sleep", "100"],
                        "env": ["PATH=/bin"], "cwd": "/", "noNewPrivileges": true},
            "root": {"path": "rootfs", "readonly": true},
            "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
            "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]}
        })
    }

    fn make_bundle(cfg: &Value) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("rootfs/bin")).expect("mkdir");
        std::fs::write(dir.path().join("rootfs/bin/sleep"), b"").expect("write");
        std::fs::write(dir.path().join("config.json"), cfg.to_string()).expect("write");
        dir
    }

    #[test]
    fn normalizes_rootfs_and_cgroups_path() {
        let dir = make_bundle(&base_config());
        let b = load("c1", dir.path()).expect("load");
        let root = b.spec.root().as_ref().expect("root").path().clone();
        assert!(root.is_absolute() && root.ends_with("rootfs"));
        assert_eq!(b.cgroups_path, PathBuf::from("/ctrd/c1"));
        assert!(b.seccomp.is_none());
    }

    #[test]
    fn refuses_unsupported_fields_by_name() {
        for (path, val) in [
            (vec!["hooks"], json!({"prestart": [{"path": "/bin/true"}]})),
            (vec!["linux", "intelRdt"], json!({"closID": "x"})),
            (vec!["process", "apparmorProfile"], json!("p")),
        ] {
            let mut cfg = base_config();
            let mut cur = &mut cfg;
            for p in &path[..path.len() - 1] {
                cur = cur.get_mut(*p).expect("path");
            }
            cur[path[path.len() - 1]] = val;
            let dir = make_bundle(&cfg);
            let err = load("c1", dir.path()).expect_err("must refuse");
            assert_eq!(err.kind(), crate::error::ErrorKind::InvalidArgument);
            assert!(err.message().contains(&path.join(".")), "{}", err.message());
        }
    }

    #[test]
    fn refuses_bad_bundles() {
        let mut cfg = base_config();
        cfg["process"]["args"] = json!(["nosuchprog"]);
        let dir = make_bundle(&cfg);
        assert!(load("c1", dir.path())
            .expect_err("missing prog")
            .message()
            .contains("nosuchprog"));

        let mut cfg = base_config();
        cfg["linux"]["namespaces"] = json!([{"type": "pid"}]);
        let dir = make_bundle(&cfg);
        assert!(load("c1", dir.path()).is_err());

        let dir = make_bundle(&base_config());
        std::fs::write(dir.path().join("config.json"), b"{not json").expect("write");
        assert!(load("c1", dir.path()).expect_err("bad json").message().contains("JSON"));

        assert!(load("c1", Path::new("relative/path")).is_err());
        assert!(load("c1", Path::new("/nonexistent/bundle")).is_err());
    }

    #[test]
    fn keeps_given_cgroups_path_absolute() {
        let mut cfg = base_config();
        cfg["linux"]["cgroupsPath"] = json!("mine/c1");
        let dir = make_bundle(&cfg);
        assert_eq!(
            load("c1", dir.path()).expect("load").cgroups_path,
            PathBuf::from("/mine/c1")
        );
        cfg["linux"]["cgroupsPath"] = json!("system.slice:ctrd:c1");
        let dir = make_bundle(&cfg);
        assert!(load("c1", dir.path()).is_err());
    }
}
