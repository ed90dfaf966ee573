//! Unit tests: wire format of the hand-written messages, options mapping, helpers. No root.

use prost::Message;

use super::*;
use crate::proto::{
    CriuCgMode, CriuNetworkLockMethod, CriuOpts, CriuReq, CriuReqType, CriuResp, ExtMountMap, InheritFd,
};

fn opts(images_dir_fd: i32) -> CriuOpts {
    CriuOpts {
        images_dir_fd,
        ..Default::default()
    }
}

#[test]
fn required_images_dir_fd_defaults_to_minus_one() {
    assert_eq!(CriuOpts::default().images_dir_fd, -1);
    // required int32 -1: tag 0x08 + 10-byte varint
    assert_eq!(
        CriuOpts::default().encode_to_vec(),
        vec![0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
    );
}

#[test]
fn field_numbers_match_rpc_proto() {
    // pid = 2 (varint): tag (2<<3|0) = 0x10
    let o = CriuOpts {
        pid: Some(5),
        ..opts(7)
    };
    assert_eq!(o.encode_to_vec(), vec![0x08, 0x07, 0x10, 0x05]);
    // leave_running = 3
    assert_eq!(
        CriuOpts {
            leave_running: Some(true),
            ..opts(0)
        }
        .encode_to_vec(),
        vec![0x08, 0, 0x18, 1]
    );
    // tcp_established = 5
    assert_eq!(
        CriuOpts {
            tcp_established: Some(true),
            ..opts(0)
        }
        .encode_to_vec(),
        vec![0x08, 0, 0x28, 1]
    );
    // log_level = 9 -> tag 0x48
    assert_eq!(
        CriuOpts {
            log_level: Some(4),
            ..opts(0)
        }
        .encode_to_vec(),
        vec![0x08, 0, 0x48, 4]
    );
    // log_file = 10 (length-delimited) -> tag 0x52
    assert_eq!(
        CriuOpts {
            log_file: Some("d".into()),
            ..opts(0)
        }
        .encode_to_vec(),
        vec![0x08, 0, 0x52, 1, b'd']
    );
    // work_dir_fd = 17 -> tag 17<<3 = 136 = 0x88 0x01
    assert_eq!(
        CriuOpts {
            work_dir_fd: Some(9),
            ..opts(0)
        }
        .encode_to_vec(),
        vec![0x08, 0, 0x88, 0x01, 9]
    );
    // rst_sibling = 26 -> tag 208 = 0xd0 0x01
    assert_eq!(
        CriuOpts {
            rst_sibling: Some(true),
            ..opts(0)
        }
        .encode_to_vec(),
        vec![0x08, 0, 0xd0, 0x01, 1]
    );
    // inherit_fd = 27 (message) -> tag 27<<3|2 = 218 = 0xda 0x01; inner key=1 (0x0a), fd=2 (0x10)
    assert_eq!(
        CriuOpts {
            inherit_fd: vec![InheritFd { key: "k".into(), fd: 3 }],
            ..opts(0)
        }
        .encode_to_vec(),
        vec![0x08, 0, 0xda, 0x01, 5, 0x0a, 1, b'k', 0x10, 3]
    );
    // manage_cgroups_mode = 34 (enum) -> tag 272 = 0x90 0x02; SOFT = 3
    assert_eq!(
        CriuOpts {
            manage_cgroups_mode: Some(CriuCgMode::Soft as i32),
            ..opts(0)
        }
        .encode_to_vec(),
        vec![0x08, 0, 0x90, 0x02, 3]
    );
    // external = 37 (repeated string) -> tag 298 = 0xaa 0x02
    assert_eq!(
        CriuOpts {
            external: vec!["x".into()],
            ..opts(0)
        }
        .encode_to_vec(),
        vec![0x08, 0, 0xaa, 0x02, 1, b'x']
    );
    // orphan_pts_master = 50 -> tag 400 = 0x90 0x03
    assert_eq!(
        CriuOpts {
            orphan_pts_master: Some(true),
            ..opts(0)
        }
        .encode_to_vec(),
        vec![0x08, 0, 0x90, 0x03, 1]
    );
    // lsm_profile = 53 -> tag 53<<3|2 = 426 = 0xaa 0x03
    assert_eq!(
        CriuOpts {
            lsm_profile: Some("p".into()),
            ..opts(0)
        }
        .encode_to_vec(),
        vec![0x08, 0, 0xaa, 0x03, 1, b'p']
    );
    // network_lock = 64 -> tag 512 = 0x80 0x04; SKIP = 3
    assert_eq!(
        CriuOpts {
            network_lock: Some(CriuNetworkLockMethod::Skip as i32),
            ..opts(0)
        }
        .encode_to_vec(),
        vec![0x08, 0, 0x80, 0x04, 3]
    );
    // images_dir = 68 -> tag 546 = 0xa2 0x04
    assert_eq!(
        CriuOpts {
            images_dir: Some("/".into()),
            ..opts(0)
        }
        .encode_to_vec(),
        vec![0x08, 0, 0xa2, 0x04, 1, b'/']
    );
    // criu_req: type = 1, opts = 2, notify_success = 3
    assert_eq!(
        CriuReq {
            r#type: CriuReqType::Dump as i32,
            ..Default::default()
        }
        .encode_to_vec(),
        vec![0x08, 1]
    );
    assert_eq!(
        CriuReq {
            r#type: CriuReqType::Notify as i32,
            notify_success: Some(true),
            ..Default::default()
        }
        .encode_to_vec(),
        vec![0x08, 6, 0x18, 1]
    );
    assert_eq!(
        CriuReq {
            r#type: CriuReqType::Version as i32,
            opts: Some(opts(3)),
            ..Default::default()
        }
        .encode_to_vec(),
        vec![0x08, 10, 0x12, 2, 0x08, 3]
    );
}

#[test]
fn req_type_numbers() {
    assert_eq!(CriuReqType::Empty as i32, 0);
    assert_eq!(CriuReqType::Dump as i32, 1);
    assert_eq!(CriuReqType::Restore as i32, 2);
    assert_eq!(CriuReqType::Check as i32, 3);
    assert_eq!(CriuReqType::PreDump as i32, 4);
    assert_eq!(CriuReqType::Notify as i32, 6);
    assert_eq!(CriuReqType::FeatureCheck as i32, 9);
    assert_eq!(CriuReqType::Version as i32, 10);
    assert_eq!(CriuReqType::SinglePreDump as i32, 13);
    assert_eq!(CriuCgMode::Default as i32, 6);
}

#[test]
fn dump_request_roundtrip() {
    let mut o = DumpOptions::new("/tmp/x", 1234);
    o.leave_running = true;
    o.tcp_established = true;
    o.track_mem = true;
    o.parent_img = Some("../pre".into());
    o.ext_mounts = vec![("/etc/hosts".into(), "/etc/hosts".into())];
    o.external = vec!["mnt[/data]:data".into()];
    o.manage_cgroups = true;
    o.manage_cgroups_mode = Some(CgroupMode::Soft);
    o.cgroup_roots = vec![CgroupRoot {
        controller: None,
        path: "/ctrd/c1".into(),
    }];
    o.notify_scripts = true;
    o.empty_ns = libc::CLONE_NEWNET as u32;
    let req = CriuReq {
        r#type: CriuReqType::Dump as i32,
        opts: Some(o.to_proto(5, Some(6))),
        ..Default::default()
    };
    let bytes = req.encode_to_vec();
    let back = CriuReq::decode(bytes.as_slice()).expect("decodes");
    assert_eq!(back, req);
    let b = back.opts.expect("opts");
    assert_eq!(b.images_dir_fd, 5);
    assert_eq!(b.work_dir_fd, Some(6));
    assert_eq!(b.pid, Some(1234));
    assert_eq!(b.leave_running, Some(true));
    assert_eq!(b.tcp_established, Some(true));
    assert_eq!(b.track_mem, Some(true));
    assert_eq!(b.parent_img.as_deref(), Some("../pre"));
    assert_eq!(
        b.ext_mnt,
        vec![ExtMountMap {
            key: "/etc/hosts".into(),
            val: "/etc/hosts".into()
        }]
    );
    assert_eq!(b.external, vec!["mnt[/data]:data".to_string()]);
    assert_eq!(b.manage_cgroups_mode(), CriuCgMode::Soft);
    assert_eq!(b.cg_root[0].path, "/ctrd/c1");
    assert_eq!(b.log_file.as_deref(), Some("dump.log"));
    assert_eq!(b.log_level, Some(4));
    assert_eq!(b.notify_scripts, Some(true));
    assert_eq!(b.empty_ns, Some(libc::CLONE_NEWNET as u32));
    // unset options are not sent
    assert_eq!(b.shell_job, None);
    assert_eq!(b.rst_sibling, None);
    // proto2 defaults visible through getters
    assert_eq!(b.ghost_limit(), 0x100000);
    assert_eq!(b.network_lock(), CriuNetworkLockMethod::Iptables);
}

#[test]
fn pre_dump_log_name_and_restore_options() {
    let mut o = DumpOptions::new("/i", 1);
    o.pre_dump = true;
    assert_eq!(o.log_file_name(), "pre-dump.log");
    let mut r = RestoreOptions::new("/i");
    r.inherit_fds = vec![("fd[1]".into(), 1)];
    r.tcp_close = true;
    r.lsm_profile = Some("apparmor:ctrd".into());
    r.join_ns = vec![JoinNs {
        ns: "net".into(),
        ns_file: "/proc/1/ns/net".into(),
        extra_opt: None,
    }];
    let p = r.to_proto(3, None, vec![("fd[1]".into(), 10)]);
    let back = CriuOpts::decode(p.encode_to_vec().as_slice()).expect("decodes");
    assert_eq!(back.rst_sibling, Some(true));
    assert_eq!(
        back.inherit_fd,
        vec![InheritFd {
            key: "fd[1]".into(),
            fd: 10
        }]
    );
    assert_eq!(back.tcp_close, Some(true));
    assert_eq!(back.lsm_profile.as_deref(), Some("apparmor:ctrd"));
    assert_eq!(back.join_ns[0].ns_file, "/proc/1/ns/net");
    assert_eq!(back.log_file.as_deref(), Some("restore.log"));
    assert_eq!(back.pid, None);
}

#[test]
fn decode_handcrafted_error_response() {
    let msg = b"No process with such pid";
    let mut bytes = vec![0x08, 1, 0x10, 0, 0x38, 3, 0x4a, msg.len() as u8];
    bytes.extend_from_slice(msg);
    let resp = CriuResp::decode(bytes.as_slice()).expect("decodes");
    assert_eq!(resp.r#type(), CriuReqType::Dump);
    assert!(!resp.success);
    assert_eq!(resp.cr_errno, Some(3));
    assert_eq!(resp.cr_errmsg.as_deref(), Some("No process with such pid"));

    let err = failed_from(&resp, "dump of pid 1 failed", None);
    let text = err.to_string();
    assert!(text.contains("No process with such pid"), "{text}");
    assert!(text.contains("cr_errno 3"), "{text}");
}

#[test]
fn decode_handcrafted_notify_and_version() {
    // type NOTIFY, success, notify { script "post-dump", pid 42 }
    let mut bytes = vec![0x08, 6, 0x10, 1, 0x2a, 13, 0x0a, 9];
    bytes.extend_from_slice(b"post-dump");
    bytes.extend_from_slice(&[0x10, 42]);
    let resp = CriuResp::decode(bytes.as_slice()).expect("decodes");
    let n = resp.notify.expect("notify");
    assert_eq!(n.script.as_deref(), Some("post-dump"));
    assert_eq!(n.pid, Some(42));

    // type VERSION, success, version { 4, 2, sublevel 1 }
    let bytes = [0x08, 10, 0x10, 1, 0x52, 6, 0x08, 4, 0x10, 2, 0x20, 1];
    let resp = CriuResp::decode(bytes.as_slice()).expect("decodes");
    let v = resp.version.expect("version");
    assert_eq!((v.major_number, v.minor_number, v.sublevel), (4, 2, Some(1)));

    // garbage -> decode error, not a panic
    assert!(CriuResp::decode([0x0au8, 200].as_slice()).is_err());
}

#[test]
fn version_at_least_and_display() {
    let v = Version {
        major: 4,
        minor: 2,
        sublevel: 1,
        gitid: None,
    };
    assert!(v.at_least(4, 2));
    assert!(v.at_least(4, 1));
    assert!(v.at_least(3, 17));
    assert!(!v.at_least(4, 3));
    assert!(!v.at_least(5, 0));
    assert_eq!(v.to_string(), "4.2.1");
    let old = Version {
        major: 3,
        minor: 17,
        sublevel: 0,
        gitid: Some("v3.17".into()),
    };
    assert!(!old.at_least(4, 2));
    assert_eq!(old.to_string(), "3.17 (v3.17)");
    let e = CriuError::TooOld {
        found: old,
        required: "4.2".into(),
    };
    assert!(e.to_string().contains("install-criu.sh"));
}

#[test]
fn log_tail_keeps_last_lines() {
    let dir = std::env::temp_dir().join(format!("criu-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let p = dir.join("x.log");
    let text: String = (1..=100).map(|i| format!("line {i}\n")).collect();
    std::fs::write(&p, text).expect("write");
    let t = log_tail(&p, 40);
    assert_eq!(t.lines().count(), 40);
    assert!(t.starts_with("line 61\n"));
    assert!(t.ends_with("line 100\n"));
    assert_eq!(log_tail(&dir.join("missing.log"), 40), "");
    let e = CriuError::Failed {
        message: "m".into(),
        log_tail: t,
    };
    assert!(e.to_string().contains("line 100"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn locate_explicit_missing_is_not_found() {
    let err = Criu::locate(Some(Path::new("/nonexistent/criu"))).expect_err("missing");
    assert!(matches!(err, CriuError::NotFound { .. }));
    assert!(err.to_string().contains("install-criu.sh"), "{err}");
}

#[test]
fn spawn_missing_binary_is_not_found() {
    let c = Criu::new(PathBuf::from("/nonexistent/criu"));
    let err = c.version(&DirectWaiter).expect_err("missing");
    assert!(matches!(err, CriuError::NotFound { .. }), "{err}");
}

#[test]
fn last_log_error_skips_generic_lines() {
    let log = "(00.01) Error (criu/util.c:1534): rlimit: x\n(00.02) Error (compel/infect.c:417): Unable to detach from 7: No such process\n(00.03) Error (criu/cr-dump.c:1975): Dumping FAILED.\n";
    assert_eq!(
        last_log_error(log),
        Some("Error (compel/infect.c:417): Unable to detach from 7: No such process")
    );
    assert_eq!(last_log_error("(00.01) Info\n"), None);
}
