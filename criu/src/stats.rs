//! CRIU's `stats-dump` image: how long the tasks were frozen and how many pages were written.
//!
//! Image layout (CRIU `images/stats.proto`, a "service" image): the service magic, the stats
//! magic, then one entry as a little-endian u32 length followed by a protobuf `stats_entry`.

use std::path::Path;

use prost::Message;

/// `dump_stats_entry` (times in microseconds).
#[derive(Clone, PartialEq, prost::Message)]
pub struct DumpStatsEntry {
    /// Time spent freezing the tasks.
    #[prost(uint32, required, tag = "1")]
    pub freezing_time: u32,
    /// Time the tasks stayed frozen.
    #[prost(uint32, required, tag = "2")]
    pub frozen_time: u32,
    /// Time spent dumping memory.
    #[prost(uint32, required, tag = "3")]
    pub memdump_time: u32,
    /// Time spent writing memory.
    #[prost(uint32, required, tag = "4")]
    pub memwrite_time: u32,
    /// Pages scanned.
    #[prost(uint64, required, tag = "5")]
    pub pages_scanned: u64,
    /// Pages not dumped because the parent image has them.
    #[prost(uint64, required, tag = "6")]
    pub pages_skipped_parent: u64,
    /// Pages written to this image.
    #[prost(uint64, required, tag = "7")]
    pub pages_written: u64,
}

/// `stats_entry`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StatsEntry {
    /// Present in `stats-dump`.
    #[prost(message, optional, tag = "1")]
    pub dump: Option<DumpStatsEntry>,
}

/// Decodes a stats image's bytes (tolerates one or two leading magic words).
pub fn decode_dump_stats(bytes: &[u8]) -> Option<DumpStatsEntry> {
    for skip in [8usize, 4] {
        let Some(len) = bytes.get(skip..skip + 4) else { continue };
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let Some(body) = bytes.get(skip + 4..skip + 4 + len) else {
            continue;
        };
        if let Ok(entry) = StatsEntry::decode(body) {
            if let Some(d) = entry.dump {
                return Some(d);
            }
        }
    }
    None
}

/// Reads `<dir>/stats-dump`, written by a dump or pre-dump.
pub fn read_dump_stats(dir: &Path) -> Option<DumpStatsEntry> {
    decode_dump_stats(&std::fs::read(dir.join("stats-dump")).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_stats_image() {
        let entry = StatsEntry {
            dump: Some(DumpStatsEntry {
                freezing_time: 10,
                frozen_time: 2500,
                memdump_time: 3,
                memwrite_time: 4,
                pages_scanned: 100,
                pages_skipped_parent: 20,
                pages_written: 80,
            }),
        };
        let body = entry.encode_to_vec();
        let mut img = Vec::new();
        img.extend_from_slice(&0x5510_5940u32.to_le_bytes());
        img.extend_from_slice(&0x5709_3306u32.to_le_bytes());
        img.extend_from_slice(&(body.len() as u32).to_le_bytes());
        img.extend_from_slice(&body);
        let d = decode_dump_stats(&img).expect("decodes");
        assert_eq!((d.frozen_time, d.pages_written), (2500, 80));
        assert!(decode_dump_stats(&[1, 2, 3]).is_none());
    }
}
