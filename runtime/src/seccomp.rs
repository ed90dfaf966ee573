//! OCI seccomp profile → seccomp BPF, built on the pure-Rust `seccompiler` crate.
//!
//! seccompiler filters have exactly one match action and one mismatch action, while
//! OCI profiles carry a per-syscall action. We therefore compile a profile into a
//! *stack* of filters (the kernel evaluates every installed filter and keeps the
//! highest-precedence verdict):
//!
//! * program 1 ("default", only if `defaultAction` is not ALLOW): match = Allow,
//!   mismatch = default action; rules = the union of every syscall rule listed with
//!   an action different from the default. Listed syscalls pass it and are decided by
//!   their group's program.
//! * one program per distinct non-ALLOW `(action, errno)` group (different from the
//!   default): match = group action, mismatch = Allow.
//!
//! Program 1 never returns a non-allow verdict for a call that a group program
//! matches (the union carries exactly the same rules), so the verdicts never collide.
//!
//! Syscall names are resolved by seccompiler's JSON frontend (its syscall table is
//! private); names unknown on the native architecture are skipped, like libseccomp.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompOperator};
use seccompiler::{BpfProgram, SeccompAction, TargetArch};
use serde_json::{json, Value};

/// A compiled profile: one or more BPF programs, to be installed in order.
///
/// Each instruction (`struct sock_filter {u16 code; u8 jt; u8 jf; u32 k}`) is encoded
/// as `[code | jt << 16 | jf << 24, k]`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CompiledSeccomp {
    pub programs: Vec<Vec<[u64; 2]>>,
}

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// The profile uses something this runtime refuses or cannot honor.
    #[error("unsupported seccomp profile: {0}")]
    Unsupported(String),
    /// seccompiler failed to build a program.
    #[error("seccomp compilation failed: {0}")]
    Compile(String),
}

const EPERM: u32 = libc::EPERM as u32;
/// `SECCOMP_RET_DATA` is 16 bits wide.
const RET_DATA_MAX: u32 = 0xffff;
/// Highest argument index of a syscall.
const MAX_ARG_INDEX: usize = 5;
/// Kernel limit for one program (BPF_MAXINSNS).
const MAX_PROG_LEN: usize = 4096;
/// Kernel limit for all attached programs (MAX_INSNS_PER_PATH), each costing 4 extra.
const MAX_TOTAL_LEN: usize = 32768;
/// Upper bound on cached profiles; the cache is cleared when it is exceeded.
const MAX_CACHE_ENTRIES: usize = 64;

#[cfg(target_arch = "x86_64")]
const NATIVE: TargetArch = TargetArch::x86_64;
#[cfg(target_arch = "aarch64")]
const NATIVE: TargetArch = TargetArch::aarch64;
#[cfg(target_arch = "riscv64")]
const NATIVE: TargetArch = TargetArch::riscv64;

// ---------------------------------------------------------------------------
// Locks that survive poisoning
// ---------------------------------------------------------------------------

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

type ProfileCache = HashMap<u64, (String, Arc<CompiledSeccomp>)>;

fn profile_cache() -> &'static Mutex<ProfileCache> {
    static CACHE: OnceLock<Mutex<ProfileCache>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

fn name_cache() -> &'static Mutex<HashMap<String, bool>> {
    static CACHE: OnceLock<Mutex<HashMap<String, bool>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

// ---------------------------------------------------------------------------
// Intermediate representation
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    MaskedEq(u64),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Cond {
    index: u8,
    /// Compare only the low 32 bits (used for our own install exceptions only).
    dword: bool,
    op: CmpOp,
    value: u64,
}

impl Cond {
    fn to_json(&self) -> Value {
        let op = match self.op {
            CmpOp::Eq => json!("eq"),
            CmpOp::Ne => json!("ne"),
            CmpOp::Lt => json!("lt"),
            CmpOp::Le => json!("le"),
            CmpOp::Gt => json!("gt"),
            CmpOp::Ge => json!("ge"),
            CmpOp::MaskedEq(mask) => json!({ "masked_eq": mask }),
        };
        json!({
            "index": self.index,
            "type": if self.dword { "dword" } else { "qword" },
            "op": op,
            "val": self.value,
        })
    }
}

/// Rules for one syscall inside one filter: unconditional, or an OR of ANDed conditions.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Rules {
    Any,
    Some(Vec<Vec<Cond>>),
}

impl Rules {
    fn merge(&mut self, other: Rules) {
        match (&mut *self, other) {
            (Rules::Any, _) => {}
            (_, Rules::Any) => *self = Rules::Any,
            (Rules::Some(mine), Rules::Some(theirs)) => {
                for r in theirs {
                    if !mine.contains(&r) {
                        mine.push(r);
                    }
                }
            }
        }
    }
}

type RuleSet = BTreeMap<String, Rules>;

fn add_rules(set: &mut RuleSet, name: &str, rules: Rules) {
    match set.get_mut(name) {
        Some(existing) => existing.merge(rules),
        None => {
            set.insert(name.to_string(), rules);
        }
    }
}

/// One BPF program to build.
#[derive(Debug)]
struct FilterSpec {
    match_action: SeccompAction,
    mismatch_action: SeccompAction,
    rules: RuleSet,
}

// ---------------------------------------------------------------------------
// Mapping
// ---------------------------------------------------------------------------

fn data(value: u32, field: &str) -> Result<u32, SeccompError> {
    if value > RET_DATA_MAX {
        return Err(SeccompError::Unsupported(format!(
            "{field}: {value} does not fit in SECCOMP_RET_DATA (max {RET_DATA_MAX})"
        )));
    }
    Ok(value)
}

/// Map an OCI action. `errno_ret` is the explicit value (errnoRet / defaultErrnoRet);
/// `field` names the action field and `errno_field` the errno field for messages.
fn map_action(
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    field: &str,
    errno_field: &str,
) -> Result<SeccompAction, SeccompError> {
    let no_errno = || {
        if errno_ret.is_some() {
            Err(SeccompError::Unsupported(format!(
                "{errno_field}: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE (action is {action})"
            )))
        } else {
            Ok(())
        }
    };
    Ok(match action {
        LinuxSeccompAction::ScmpActAllow => {
            no_errno()?;
            SeccompAction::Allow
        }
        LinuxSeccompAction::ScmpActErrno => SeccompAction::Errno(data(errno_ret.unwrap_or(EPERM), errno_field)?),
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            no_errno()?;
            SeccompAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => {
            no_errno()?;
            SeccompAction::KillProcess
        }
        LinuxSeccompAction::ScmpActTrap => {
            no_errno()?;
            SeccompAction::Trap
        }
        LinuxSeccompAction::ScmpActLog => {
            no_errno()?;
            SeccompAction::Log
        }
        LinuxSeccompAction::ScmpActTrace => SeccompAction::Trace(data(errno_ret.unwrap_or(0), errno_field)?),
        LinuxSeccompAction::ScmpActNotify => {
            return Err(SeccompError::Unsupported(format!(
                "{field}: SCMP_ACT_NOTIFY is not supported"
            )))
        }
    })
}

fn map_arg(arg: &LinuxSeccompArg, field: &str) -> Result<Cond, SeccompError> {
    let index = arg.index();
    if index > MAX_ARG_INDEX {
        return Err(SeccompError::Unsupported(format!(
            "{field}.index: {index} is out of range (max {MAX_ARG_INDEX})"
        )));
    }
    let (op, value) = match arg.op() {
        LinuxSeccompOperator::ScmpCmpEq => (CmpOp::Eq, arg.value()),
        LinuxSeccompOperator::ScmpCmpNe => (CmpOp::Ne, arg.value()),
        LinuxSeccompOperator::ScmpCmpLt => (CmpOp::Lt, arg.value()),
        LinuxSeccompOperator::ScmpCmpLe => (CmpOp::Le, arg.value()),
        LinuxSeccompOperator::ScmpCmpGt => (CmpOp::Gt, arg.value()),
        LinuxSeccompOperator::ScmpCmpGe => (CmpOp::Ge, arg.value()),
        // libseccomp/runc: `value` is the mask, `valueTwo` the datum.
        LinuxSeccompOperator::ScmpCmpMaskedEq => (CmpOp::MaskedEq(arg.value()), arg.value_two().unwrap_or(0)),
    };
    Ok(Cond {
        // index <= 5, fits.
        index: index as u8,
        dword: false,
        op,
        value,
    })
}

/// Rules for one OCI syscall entry. As in runc: args ANDed, unless some argument
/// index appears more than once, in which case each arg becomes its own (ORed) rule.
fn entry_rules(args: Option<&Vec<LinuxSeccompArg>>, field: &str) -> Result<Rules, SeccompError> {
    let args = match args {
        Some(a) if !a.is_empty() => a,
        _ => return Ok(Rules::Any),
    };
    let mut conds = Vec::with_capacity(args.len());
    for (j, a) in args.iter().enumerate() {
        conds.push(map_arg(a, &format!("{field}.args[{j}]"))?);
    }
    let mut counts = [0usize; MAX_ARG_INDEX + 1];
    for c in &conds {
        counts[usize::from(c.index)] += 1;
    }
    if counts.iter().any(|&n| n > 1) {
        Ok(Rules::Some(conds.into_iter().map(|c| vec![c]).collect()))
    } else {
        Ok(Rules::Some(vec![conds]))
    }
}

fn native_arch_name() -> &'static str {
    match NATIVE {
        TargetArch::x86_64 => "x86_64",
        TargetArch::aarch64 => "aarch64",
        TargetArch::riscv64 => "riscv64",
    }
}

fn default_action(profile: &LinuxSeccomp) -> Result<SeccompAction, SeccompError> {
    map_action(
        profile.default_action(),
        profile.default_errno_ret(),
        "linux.seccomp.defaultAction",
        "linux.seccomp.defaultErrnoRet",
    )
}

/// Cheap checks: actions, operators, argument indexes, flags, listener, architectures.
pub fn validate(profile: &LinuxSeccomp) -> Result<(), SeccompError> {
    if profile.listener_path().is_some() {
        return Err(SeccompError::Unsupported(
            "linux.seccomp.listenerPath: seccomp user notification is not supported".into(),
        ));
    }
    if profile.listener_metadata().is_some() {
        return Err(SeccompError::Unsupported(
            "linux.seccomp.listenerMetadata: seccomp user notification is not supported".into(),
        ));
    }
    if let Some(flags) = profile.flags() {
        if let Some(flag) = flags.first() {
            return Err(SeccompError::Unsupported(format!(
                "linux.seccomp.flags: {flag} is not supported"
            )));
        }
    }
    // `architectures`: every value is accepted; only the native arch is compiled.
    default_action(profile)?;
    for (i, sc) in profile.syscalls().iter().flatten().enumerate() {
        let field = format!("linux.seccomp.syscalls[{i}]");
        map_action(
            sc.action(),
            sc.errno_ret(),
            &format!("{field}.action"),
            &format!("{field}.errnoRet"),
        )?;
        entry_rules(sc.args().as_ref(), &field)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Planning
// ---------------------------------------------------------------------------

/// Whether `name` is a syscall on the native architecture (cached probe).
fn known_syscall(name: &str) -> bool {
    if let Some(&known) = lock(name_cache()).get(name) {
        return known;
    }
    let probe = json!({
        "p": {
            "mismatch_action": "allow",
            "match_action": "trap",
            "filter": [ { "syscall": name } ],
        }
    });
    let known = serde_json::to_vec(&probe)
        .ok()
        .map(|bytes| seccompiler::compile_from_json(bytes.as_slice(), NATIVE).is_ok())
        .unwrap_or(false);
    lock(name_cache()).insert(name.to_string(), known);
    known
}

const INSTALL_EXCEPTIONS: [(&str, u64); 1] = [("seccomp", libc::SECCOMP_SET_MODE_FILTER as u64)];

fn exception_cond(op: CmpOp, value: u64) -> Cond {
    Cond {
        index: 0,
        dword: true,
        op,
        value,
    }
}

/// Let the call that installs the *next* program (`seccomp(SECCOMP_SET_MODE_FILTER)`)
/// through a program that is not the last one installed (the last one still decides
/// it). Installing a filter can only tighten restrictions.
fn add_install_exceptions(spec: &mut FilterSpec) {
    let allow_match = spec.match_action == SeccompAction::Allow;
    for (name, value) in INSTALL_EXCEPTIONS {
        if allow_match {
            add_rules(
                &mut spec.rules,
                name,
                Rules::Some(vec![vec![exception_cond(CmpOp::Eq, value)]]),
            );
        } else if let Some(rules) = spec.rules.get_mut(name) {
            let not_install = exception_cond(CmpOp::Ne, value);
            match rules {
                Rules::Any => *rules = Rules::Some(vec![vec![not_install]]),
                Rules::Some(list) => list.iter_mut().for_each(|r| r.push(not_install.clone())),
            }
        }
    }
}

fn plan(profile: &LinuxSeccomp) -> Result<Vec<FilterSpec>, SeccompError> {
    let default = default_action(profile)?;

    // (action, rules) in order of first appearance; actions equal to the default dropped.
    let mut groups: Vec<(SeccompAction, RuleSet)> = Vec::new();
    for (i, sc) in profile.syscalls().iter().flatten().enumerate() {
        let field = format!("linux.seccomp.syscalls[{i}]");
        let action = map_action(
            sc.action(),
            sc.errno_ret(),
            &format!("{field}.action"),
            &format!("{field}.errnoRet"),
        )?;
        let rules = entry_rules(sc.args().as_ref(), &field)?;
        if action == default {
            continue;
        }
        let idx = match groups.iter().position(|(a, _)| *a == action) {
            Some(idx) => idx,
            None => {
                groups.push((action, RuleSet::new()));
                groups.len() - 1
            }
        };
        for name in sc.names() {
            if !known_syscall(name) {
                continue;
            }
            add_rules(&mut groups[idx].1, name, rules.clone());
        }
    }

    let mut specs = Vec::new();
    if default != SeccompAction::Allow {
        let mut union = RuleSet::new();
        for (_, set) in &groups {
            for (name, rules) in set {
                add_rules(&mut union, name, rules.clone());
            }
        }
        specs.push(FilterSpec {
            match_action: SeccompAction::Allow,
            mismatch_action: default,
            rules: union,
        });
    }
    for (action, rules) in groups {
        if action == SeccompAction::Allow || rules.is_empty() {
            continue;
        }
        specs.push(FilterSpec {
            match_action: action,
            mismatch_action: SeccompAction::Allow,
            rules,
        });
    }
    let n = specs.len();
    for spec in specs.iter_mut().take(n.saturating_sub(1)) {
        add_install_exceptions(spec);
    }
    Ok(specs)
}

// ---------------------------------------------------------------------------
// Compilation
// ---------------------------------------------------------------------------

fn spec_json(spec: &FilterSpec) -> Value {
    fn action_json(a: &SeccompAction) -> Value {
        match a {
            SeccompAction::Allow => json!("allow"),
            SeccompAction::Errno(e) => json!({ "errno": e }),
            SeccompAction::KillThread => json!("kill_thread"),
            SeccompAction::KillProcess => json!("kill_process"),
            SeccompAction::Log => json!("log"),
            SeccompAction::Trace(t) => json!({ "trace": t }),
            SeccompAction::Trap => json!("trap"),
        }
    }
    let mut filter = Vec::new();
    for (name, rules) in &spec.rules {
        match rules {
            Rules::Any => filter.push(json!({ "syscall": name })),
            Rules::Some(list) => {
                for rule in list {
                    let args: Vec<Value> = rule.iter().map(Cond::to_json).collect();
                    filter.push(json!({ "syscall": name, "args": args }));
                }
            }
        }
    }
    json!({
        "f": {
            "mismatch_action": action_json(&spec.mismatch_action),
            "match_action": action_json(&spec.match_action),
            "filter": filter,
        }
    })
}

fn build_program(spec: &FilterSpec) -> Result<BpfProgram, SeccompError> {
    let bytes =
        serde_json::to_vec(&spec_json(spec)).map_err(|e| SeccompError::Compile(format!("serializing filter: {e}")))?;
    let mut map =
        seccompiler::compile_from_json(bytes.as_slice(), NATIVE).map_err(|e| SeccompError::Compile(e.to_string()))?;
    map.remove("f")
        .ok_or_else(|| SeccompError::Compile("seccompiler returned no program".into()))
}

/// On x86_64, x32-ABI syscalls carry the x86_64 audit arch with bit 30 set in the
/// number; seccompiler does not check it, so without this they would bypass
/// deny-list rules. Returns `deny` for them (placed before seccompiler's own code).
fn x32_guard(deny: SeccompAction) -> Vec<seccompiler::sock_filter> {
    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    const X32_SYSCALL_BIT: u32 = 0x4000_0000;
    const NR_OFFSET: u32 = 0;
    const ARCH_OFFSET: u32 = 4;
    let ins = |code: u32, jt: u8, jf: u8, k: u32| seccompiler::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    vec![
        ins(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0, 0, ARCH_OFFSET),
        ins(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K, 0, 3, AUDIT_ARCH_X86_64),
        ins(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0, 0, NR_OFFSET),
        ins(libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K, 0, 1, X32_SYSCALL_BIT),
        ins(libc::BPF_RET | libc::BPF_K, 0, 0, u32::from(deny)),
    ]
}

fn encode(prog: &[seccompiler::sock_filter]) -> Vec<[u64; 2]> {
    prog.iter()
        .map(|i| {
            [
                u64::from(i.code) | (u64::from(i.jt) << 16) | (u64::from(i.jf) << 24),
                u64::from(i.k),
            ]
        })
        .collect()
}

fn decode(prog: &[[u64; 2]]) -> io::Result<Vec<libc::sock_filter>> {
    prog.iter()
        .map(|&[w, k]| {
            if w >> 32 != 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "malformed seccomp instruction",
                ));
            }
            let k = u32::try_from(k)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "malformed seccomp instruction"))?;
            Ok(libc::sock_filter {
                code: (w & 0xffff) as u16,
                jt: ((w >> 16) & 0xff) as u8,
                jf: ((w >> 24) & 0xff) as u8,
                k,
            })
        })
        .collect()
}

fn compile_uncached(profile: &LinuxSeccomp) -> Result<CompiledSeccomp, SeccompError> {
    validate(profile)?;
    let default = default_action(profile)?;
    let specs = plan(profile)?;
    let mut programs = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        let mut prog = build_program(spec)?;
        if i == 0 && NATIVE == TargetArch::x86_64 {
            let deny = match default {
                SeccompAction::Errno(_)
                | SeccompAction::KillThread
                | SeccompAction::KillProcess
                | SeccompAction::Trap => default.clone(),
                _ => SeccompAction::KillProcess,
            };
            let mut guarded = x32_guard(deny);
            guarded.append(&mut prog);
            prog = guarded;
        }
        if prog.len() > MAX_PROG_LEN {
            return Err(SeccompError::Compile(format!(
                "program {i} has {} instructions (max {MAX_PROG_LEN})",
                prog.len()
            )));
        }
        programs.push(encode(&prog));
    }
    let total: usize = programs.iter().map(|p| p.len() + 4).sum();
    if total > MAX_TOTAL_LEN {
        return Err(SeccompError::Compile(format!(
            "filters total {total} instructions (kernel max {MAX_TOTAL_LEN})"
        )));
    }
    Ok(CompiledSeccomp { programs })
}

/// Compile `profile` for the native architecture (`x86_64`/`aarch64`), cached by a
/// hash of its JSON serialization.
pub fn compile(profile: &LinuxSeccomp) -> Result<Arc<CompiledSeccomp>, SeccompError> {
    let key_text =
        serde_json::to_string(profile).map_err(|e| SeccompError::Compile(format!("serializing profile: {e}")))?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    native_arch_name().hash(&mut hasher);
    key_text.hash(&mut hasher);
    let key = hasher.finish();

    if let Some((text, compiled)) = lock(profile_cache()).get(&key) {
        // Guard against hash collisions: only reuse an identical profile.
        if *text == key_text {
            return Ok(Arc::clone(compiled));
        }
    }
    let compiled = Arc::new(compile_uncached(profile)?);
    let mut cache = lock(profile_cache());
    if let Some((text, existing)) = cache.get(&key) {
        if *text == key_text {
            return Ok(Arc::clone(existing));
        }
    }
    if cache.len() >= MAX_CACHE_ENTRIES {
        cache.clear();
    }
    cache.insert(key, (key_text, Arc::clone(&compiled)));
    Ok(compiled)
}

/// Install already-decoded programs in order with `seccomp(SECCOMP_SET_MODE_FILTER)`.
/// Does not allocate on success.
///
/// Like `seccompiler::apply_filter`, but without its unconditional
/// `prctl(PR_SET_NO_NEW_PRIVS)`: whether to set no_new_privs is the spec's decision
/// (`process.noNewPrivileges`); without it the kernel requires CAP_SYS_ADMIN.
fn apply_programs(programs: &[Vec<libc::sock_filter>]) -> io::Result<()> {
    for prog in programs {
        let len = u16::try_from(prog.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "seccomp program too long"))?;
        if len == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty seccomp program"));
        }
        let fprog = libc::sock_fprog {
            len,
            filter: prog.as_ptr().cast_mut(),
        };
        // SAFETY: `fprog` points to `len` valid instructions that outlive the call; the
        // kernel copies them and does not write through the pointer.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0 as libc::c_ulong,
                &fprog as *const libc::sock_fprog,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

impl CompiledSeccomp {
    /// Decode the programs into kernel instructions.
    fn decode_all(&self) -> io::Result<Vec<Vec<libc::sock_filter>>> {
        self.programs.iter().map(|p| decode(p)).collect()
    }

    /// Apply every program, in order, to the calling thread. Zero programs is a no-op.
    ///
    /// Requires no_new_privs to be set already or CAP_SYS_ADMIN (else `EACCES`); the
    /// kernel's error is returned as-is. Does not set no_new_privs itself.
    pub fn install(&self) -> io::Result<()> {
        let programs = self.decode_all()?;
        apply_programs(&programs)
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(v: Value) -> LinuxSeccomp {
        match serde_json::from_value(v) {
            Ok(p) => p,
            Err(e) => panic!("bad test profile: {e}"),
        }
    }

    fn act(a: &str, errno: Option<u32>) -> Result<SeccompAction, SeccompError> {
        let action: LinuxSeccompAction = serde_json::from_value(json!(a)).unwrap();
        map_action(action, errno, "f", "e")
    }

    #[test]
    fn action_mapping() {
        assert_eq!(act("SCMP_ACT_ALLOW", None).unwrap(), SeccompAction::Allow);
        assert_eq!(act("SCMP_ACT_ERRNO", None).unwrap(), SeccompAction::Errno(1));
        assert_eq!(act("SCMP_ACT_ERRNO", Some(38)).unwrap(), SeccompAction::Errno(38));
        assert_eq!(act("SCMP_ACT_KILL", None).unwrap(), SeccompAction::KillThread);
        assert_eq!(act("SCMP_ACT_KILL_THREAD", None).unwrap(), SeccompAction::KillThread);
        assert_eq!(act("SCMP_ACT_KILL_PROCESS", None).unwrap(), SeccompAction::KillProcess);
        assert_eq!(act("SCMP_ACT_TRAP", None).unwrap(), SeccompAction::Trap);
        assert_eq!(act("SCMP_ACT_LOG", None).unwrap(), SeccompAction::Log);
        assert_eq!(act("SCMP_ACT_TRACE", None).unwrap(), SeccompAction::Trace(0));
        assert_eq!(act("SCMP_ACT_TRACE", Some(7)).unwrap(), SeccompAction::Trace(7));
        assert!(matches!(
            act("SCMP_ACT_ALLOW", Some(1)),
            Err(SeccompError::Unsupported(_))
        ));
        assert!(matches!(
            act("SCMP_ACT_ERRNO", Some(0x10000)),
            Err(SeccompError::Unsupported(_))
        ));
    }

    #[test]
    fn errno_defaults() {
        let p = profile(json!({"defaultAction": "SCMP_ACT_ERRNO"}));
        assert_eq!(default_action(&p).unwrap(), SeccompAction::Errno(1));
        let p = profile(json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38}));
        assert_eq!(default_action(&p).unwrap(), SeccompAction::Errno(38));
        // A group's errno does not inherit defaultErrnoRet.
        let p = profile(json!({
            "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]
        }));
        let specs = plan(&p).unwrap();
        assert_eq!(specs.len(), 2);
        assert_eq!(specs[0].mismatch_action, SeccompAction::Errno(38));
        assert_eq!(specs[1].match_action, SeccompAction::Errno(1));
    }

    #[test]
    fn notify_refused() {
        let p = profile(json!({"defaultAction": "SCMP_ACT_NOTIFY"}));
        let e = validate(&p).unwrap_err().to_string();
        assert!(
            e.contains("linux.seccomp.defaultAction") && e.contains("SCMP_ACT_NOTIFY"),
            "{e}"
        );
        let p = profile(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
        }));
        let e = compile(&p).unwrap_err().to_string();
        assert!(e.contains("linux.seccomp.syscalls[0].action"), "{e}");
        let p = profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x"}));
        assert!(matches!(validate(&p), Err(SeccompError::Unsupported(_))));
        let p = profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_LOG"]}));
        let e = validate(&p).unwrap_err().to_string();
        assert!(e.contains("linux.seccomp.flags"), "{e}");
        let p = profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}));
        assert!(matches!(validate(&p), Err(SeccompError::Unsupported(_))));
    }

    #[test]
    fn masked_eq_and_args() {
        let p = profile(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["clone"], "action": "SCMP_ACT_ERRNO", "args": [
                    {"index": 0, "value": 0x7e020000u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"},
                    {"index": 1, "value": 5, "op": "SCMP_CMP_GE"}]},
                {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "args": [
                    {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                    {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}
            ]
        }));
        let specs = plan(&p).unwrap();
        assert_eq!(specs.len(), 1);
        let clone = &specs[0].rules["clone"];
        let q = |op, value| Cond {
            index: 0,
            dword: false,
            op,
            value,
        };
        assert_eq!(
            *clone,
            Rules::Some(vec![vec![
                q(CmpOp::MaskedEq(0x7e020000), 0),
                Cond {
                    index: 1,
                    ..q(CmpOp::Ge, 5)
                },
            ]])
        );
        // Same index twice: ORed (runc behaviour).
        assert_eq!(
            specs[0].rules["personality"],
            Rules::Some(vec![vec![q(CmpOp::Eq, 0)], vec![q(CmpOp::Eq, 8)]])
        );
        assert_eq!(compile(&p).unwrap().programs.len(), 1);
    }

    #[test]
    fn unconditional_wins() {
        let p = profile(json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                {"names": ["read"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
                {"names": ["read"], "action": "SCMP_ACT_ALLOW"}
            ]
        }));
        assert_eq!(plan(&p).unwrap()[0].rules["read"], Rules::Any);
    }

    #[test]
    fn unknown_names_skipped() {
        assert!(known_syscall("getppid"));
        assert!(!known_syscall("no_such_syscall_xyz"));
        let p = profile(json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["read", "no_such_syscall_xyz"], "action": "SCMP_ACT_ALLOW"}]
        }));
        let specs = plan(&p).unwrap();
        assert!(specs[0].rules.contains_key("read"));
        assert!(!specs[0].rules.contains_key("no_such_syscall_xyz"));
        assert_eq!(compile(&p).unwrap().programs.len(), 1);
        // A group made only of unknown names produces no program.
        let p = profile(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["no_such_syscall_xyz"], "action": "SCMP_ACT_KILL"}]
        }));
        assert_eq!(compile(&p).unwrap().programs.len(), 0);
    }

    #[test]
    fn architectures_accepted() {
        let p = profile(json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32",
                              "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]
        }));
        assert_eq!(compile(&p).unwrap().programs.len(), 1);
    }

    #[test]
    fn program_counts() {
        let allow_list = json!({"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"});
        let p = profile(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [allow_list]}));
        assert_eq!(compile(&p).unwrap().programs.len(), 1);

        let p = profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}));
        assert_eq!(compile(&p).unwrap().programs.len(), 1);

        let p = profile(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            allow_list,
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]}));
        let specs = plan(&p).unwrap();
        assert_eq!(specs.len(), 2);
        assert!(specs[0].rules.contains_key("clone3"));
        assert_eq!(specs[1].match_action, SeccompAction::Errno(38));
        assert_eq!(compile(&p).unwrap().programs.len(), 2);

        let p = profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}));
        assert_eq!(compile(&p).unwrap().programs.len(), 0);
        let p = profile(json!({"defaultAction": "SCMP_ACT_ALLOW"}));
        assert_eq!(compile(&p).unwrap().programs.len(), 0);

        // Same action as the default: not listed anywhere.
        let p = profile(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}));
        let specs = plan(&p).unwrap();
        assert_eq!(specs.len(), 1);
        assert!(specs[0].rules.is_empty());
    }

    #[test]
    fn cache_and_serde_roundtrip() {
        let v = json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]});
        let a = compile(&profile(v.clone())).unwrap();
        let b = compile(&profile(v)).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let text = serde_json::to_string(&*a).unwrap();
        let back: CompiledSeccomp = serde_json::from_str(&text).unwrap();
        assert_eq!(back, *a);
        let decoded = back.decode_all().unwrap();
        assert_eq!(decoded.len(), a.programs.len());
        for (d, e) in decoded.iter().zip(&a.programs) {
            let raw: Vec<[u64; 2]> = d
                .iter()
                .map(|i| {
                    [
                        u64::from(i.code) | (u64::from(i.jt) << 16) | (u64::from(i.jf) << 24),
                        u64::from(i.k),
                    ]
                })
                .collect();
            assert_eq!(raw, *e);
        }
        assert!(decode(&[[1u64 << 40, 0]]).is_err());
    }

    /// Fork; in the child install `programs` and run `check`, exiting 0 on success.
    fn run_in_child(programs: &[Vec<libc::sock_filter>], check: fn() -> bool) -> i32 {
        // SAFETY: the child only calls async-signal-safe functions (prctl, seccomp,
        // raw syscalls, _exit) and does not allocate.
        unsafe {
            let pid = libc::fork();
            assert!(pid >= 0, "fork failed");
            if pid == 0 {
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                    libc::_exit(100);
                }
                if apply_programs(programs).is_err() {
                    libc::_exit(101);
                }
                libc::_exit(if check() { 0 } else { 1 });
            }
            let mut status = 0;
            assert_eq!(libc::waitpid(pid, &mut status, 0), pid);
            assert!(libc::WIFEXITED(status), "child died: status {status:#x}");
            libc::WEXITSTATUS(status)
        }
    }

    fn errno() -> i32 {
        // SAFETY: reading the thread's errno.
        unsafe { *libc::__errno_location() }
    }

    #[test]
    fn real_default_allow_with_errno_group() {
        let p = profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {"names": ["mkdirat", "mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}));
        let compiled = compile(&p).unwrap();
        assert_eq!(compiled.programs.len(), 2);
        let programs = compiled.decode_all().unwrap();
        fn check() -> bool {
            // SAFETY: raw syscalls with valid arguments.
            unsafe {
                let r = libc::syscall(libc::SYS_getppid);
                if r != -1 || errno() != 38 {
                    return false;
                }
                let r = libc::syscall(libc::SYS_mkdirat, libc::AT_FDCWD, c"/nonexistent-dir/x".as_ptr(), 0o755);
                if r != -1 || errno() != 13 {
                    return false;
                }
                libc::syscall(libc::SYS_getpid) > 0
            }
        }
        assert_eq!(run_in_child(&programs, check), 0);
    }

    #[test]
    fn real_default_errno_allow_list() {
        let p = profile(json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                {"names": ["exit_group", "exit", "getpid", "write", "rt_sigreturn"],
                 "action": "SCMP_ACT_ALLOW"},
                {"names": ["getuid"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 0xff, "valueTwo": 7, "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["getgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
            ]
        }));
        let compiled = compile(&p).unwrap();
        assert_eq!(compiled.programs.len(), 2);
        let programs = compiled.decode_all().unwrap();
        fn check() -> bool {
            // SAFETY: raw syscalls with valid arguments.
            unsafe {
                if libc::syscall(libc::SYS_getpid) <= 0 {
                    return false;
                }
                // Not listed: default EPERM.
                if libc::syscall(libc::SYS_getppid) != -1 || errno() != libc::EPERM {
                    return false;
                }
                // Masked-eq: (arg0 & 0xff) == 7 allowed, otherwise default.
                if libc::syscall(libc::SYS_getuid, 0x107u64) == -1 {
                    return false;
                }
                if libc::syscall(libc::SYS_getuid, 0x106u64) != -1 || errno() != libc::EPERM {
                    return false;
                }
                // Group with its own errno.
                libc::syscall(libc::SYS_getgid) == -1 && errno() == 38
            }
        }
        assert_eq!(run_in_child(&programs, check), 0);
    }

    #[test]
    fn install_empty_is_noop() {
        let c = CompiledSeccomp { programs: vec![] };
        assert!(c.install().is_ok());
    }
}
