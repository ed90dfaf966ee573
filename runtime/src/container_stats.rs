//! Stats and live resource updates of a container's cgroup.

use oci_spec::runtime::{LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder};
use serde::{Deserialize, Serialize};

use crate::cgroups;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::store::Status;
use crate::supervisor::Runtime;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CpuStats {
    /// Nanoseconds of CPU time, in total, in user mode and in kernel mode.
    pub usage_total: u64,
    pub usage_user: u64,
    pub usage_system: u64,
    pub throttling: Throttling,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Throttling {
    pub periods: u64,
    pub throttled_periods: u64,
    /// Nanoseconds.
    pub throttled_time: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemoryStats {
    /// Bytes.
    pub usage: u64,
    pub max_usage: u64,
    pub limit: u64,
    pub cache: Option<u64>,
    pub rss: Option<u64>,
    pub fail_count: u64,
}

#[derive(Debug, Serialize)]
pub struct PidsStats {
    pub current: u64,
    /// 0 when unlimited.
    pub limit: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlkioEntry {
    pub major: u64,
    pub minor: u64,
    pub op: Option<String>,
    pub value: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlkioStats {
    pub io_service_bytes: Vec<BlkioEntry>,
    pub io_serviced: Vec<BlkioEntry>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStats {
    pub id: String,
    pub timestamp: String,
    pub cpu: CpuStats,
    pub memory: MemoryStats,
    pub pids: PidsStats,
    pub blkio: BlkioStats,
}

/// The subset of OCI `linux.resources` that can change on a live container.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceUpdate {
    pub memory: Option<MemoryUpdate>,
    pub cpu: Option<CpuUpdate>,
    pub pids: Option<PidsUpdate>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryUpdate {
    pub limit: Option<i64>,
    pub reservation: Option<i64>,
    pub swap: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuUpdate {
    pub shares: Option<u64>,
    pub quota: Option<i64>,
    pub period: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PidsUpdate {
    pub limit: i64,
}

impl ResourceUpdate {
    /// Checks the values and builds the OCI resources to apply.
    pub fn to_oci(&self) -> Result<LinuxResources> {
        let bad = |m: String| Error::invalid(m);
        let mut b = LinuxResourcesBuilder::default();
        let mut any = false;
        if let Some(m) = &self.memory {
            let mut mb = LinuxMemoryBuilder::default();
            if let Some(l) = m.limit {
                if l != -1 && l < 4 * 1024 * 1024 {
                    return Err(bad(format!(
                        "resources.memory.limit {l} is below 4 MiB (or -1 for unlimited)"
                    )));
                }
                mb = mb.limit(l);
            }
            if let Some(r) = m.reservation {
                mb = mb.reservation(r);
            }
            if let Some(s) = m.swap {
                mb = mb.swap(s);
            }
            b = b.memory(mb.build().map_err(|e| bad(e.to_string()))?);
            any = true;
        }
        if let Some(c) = &self.cpu {
            let mut cb = LinuxCpuBuilder::default();
            if let Some(s) = c.shares {
                if !(2..=262_144).contains(&s) {
                    return Err(bad(format!("resources.cpu.shares {s} must be within 2..=262144")));
                }
                cb = cb.shares(s);
            }
            if let Some(q) = c.quota {
                if q != -1 && q < 1000 {
                    return Err(bad(format!("resources.cpu.quota {q} must be >= 1000 (µs) or -1")));
                }
                cb = cb.quota(q);
            }
            if let Some(p) = c.period {
                if !(1000..=1_000_000).contains(&p) {
                    return Err(bad(format!(
                        "resources.cpu.period {p} must be within 1000..=1000000 (µs)"
                    )));
                }
                cb = cb.period(p);
            }
            b = b.cpu(cb.build().map_err(|e| bad(e.to_string()))?);
            any = true;
        }
        if let Some(p) = &self.pids {
            if p.limit == 0 || p.limit < -1 {
                return Err(bad(format!("resources.pids.limit {} must be positive or -1", p.limit)));
            }
            b = b.pids(
                LinuxPidsBuilder::default()
                    .limit(p.limit)
                    .build()
                    .map_err(|e| bad(e.to_string()))?,
            );
            any = true;
        }
        if !any {
            return Err(bad("resources: give memory, cpu or pids".into()));
        }
        b.build().map_err(|e| bad(e.to_string()))
    }
}

impl Runtime {
    fn live_cgroup(&self, id: &str) -> Result<(std::path::PathBuf, i32)> {
        let inner = self.lock();
        match inner.containers.get(id) {
            Some(e) if !e.creating => {
                if e.rec.status == Status::Stopped {
                    return Err(Error::conflict(format!("container {id} is stopped")));
                }
                Ok((e.rec.cgroups_path.clone(), e.rec.pid))
            }
            _ => Err(Error::not_found(format!("no such container: {id}"))),
        }
    }

    /// Current cgroup readings of a running or paused container.
    pub fn stats(&self, id: &str) -> Result<ContainerStats> {
        let (path, _) = self.live_cgroup(id)?;
        let s = cgroups::stats(id, &path)?;
        let stat = |k: &str| s.memory.stats.get(k).copied();
        let blk = |v: &[libcgroups::stats::BlkioDeviceStat]| {
            v.iter()
                .map(|d| BlkioEntry {
                    major: d.major,
                    minor: d.minor,
                    op: d.op_type.clone(),
                    value: d.value,
                })
                .collect()
        };
        // libcgroups reports raw units: v1 gives the total in ns but user/system in clock ticks,
        // v2 gives microseconds. Normalize everything to nanoseconds.
        let v2 = matches!(
            libcgroups::common::get_cgroup_setup(),
            Ok(libcgroups::common::CgroupSetup::Unified)
        );
        // SAFETY: sysconf has no memory effects.
        let tick_ns = 1_000_000_000
            / u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) })
                .unwrap_or(100)
                .max(1);
        let (total_mul, mode_mul, throttle_mul) = if v2 { (1000, 1000, 1000) } else { (1, tick_ns, 1) };
        Ok(ContainerStats {
            id: id.to_owned(),
            timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            cpu: CpuStats {
                usage_total: s.cpu.usage.usage_total * total_mul,
                usage_user: s.cpu.usage.usage_user * mode_mul,
                usage_system: s.cpu.usage.usage_kernel * mode_mul,
                throttling: Throttling {
                    periods: s.cpu.throttling.periods,
                    throttled_periods: s.cpu.throttling.throttled_periods,
                    throttled_time: s.cpu.throttling.throttled_time * throttle_mul,
                },
            },
            memory: MemoryStats {
                usage: s.memory.memory.usage,
                max_usage: s.memory.memory.max_usage,
                limit: s.memory.memory.limit,
                cache: stat("cache").or(stat("file")),
                rss: stat("rss").or(stat("anon")),
                fail_count: s.memory.memory.fail_count,
            },
            pids: PidsStats {
                current: s.pids.current,
                limit: s.pids.limit,
            },
            blkio: BlkioStats {
                io_service_bytes: blk(&s.blkio.service_bytes),
                io_serviced: blk(&s.blkio.serviced),
            },
        })
    }

    /// Applies new limits to a running or paused container's cgroup.
    pub fn update_resources(&self, id: &str, update: &ResourceUpdate) -> Result<crate::ContainerRecord> {
        let resources = update.to_oci()?;
        let (path, pid) = self.live_cgroup(id)?;
        cgroups::apply(id, &path, &resources)?;
        self.emit(Event::new("updateContainer", id, Some(pid), None));
        self.get(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_update_validation() {
        let u: ResourceUpdate =
            serde_json::from_str(r#"{"memory":{"limit":67108864},"pids":{"limit":10}}"#).expect("parse");
        let r = u.to_oci().expect("valid");
        assert_eq!(r.memory().as_ref().and_then(|m| m.limit()), Some(67108864));
        assert_eq!(r.pids().as_ref().map(|p| p.limit()), Some(10));
        let u: ResourceUpdate = serde_json::from_str(r#"{"memory":{"limit":10}}"#).expect("parse");
        assert!(u.to_oci().is_err());
        let u: ResourceUpdate = serde_json::from_str(r#"{"cpu":{"shares":1}}"#).expect("parse");
        assert!(u.to_oci().is_err());
        assert!(ResourceUpdate::default().to_oci().is_err());
        assert!(serde_json::from_str::<ResourceUpdate>(r#"{"hugepages":{}}"#).is_err());
    }
}
