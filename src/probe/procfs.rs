//! CPU time and memory from Linux's /proc: the embedded server's postmaster with its children,
//! and bench itself. Parsing is pure; the readers return None where /proc is absent.

use std::path::Path;

/// Clock ticks per second of /proc's times (USER_HZ, 100 on every Linux architecture).
pub const TICKS_PER_S: f64 = 100.0;

/// The fields of `/proc/<pid>/stat` bench reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stat {
    pub ppid: u32,
    pub utime: u64,
    pub stime: u64,
    /// Times of children the process waited for (for the postmaster: exited backends).
    pub cutime: u64,
    pub cstime: u64,
}

/// Parse one `/proc/<pid>/stat` line. The command name (field 2) may hold spaces and
/// parentheses, so fields are counted after its last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17).
    let at = |field: usize| f.get(field - 3).and_then(|v| v.parse::<i64>().ok());
    Some(Stat {
        ppid: at(4)? as u32,
        utime: at(14)?.max(0) as u64,
        stime: at(15)?.max(0) as u64,
        cutime: at(16)?.max(0) as u64,
        cstime: at(17)?.max(0) as u64,
    })
}

fn read_stat(pid: &str) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(Path::new("/proc").join(pid).join("stat")).ok()?)
}

/// CPU ticks of `pid` and of every process whose parent it is, including the children it
/// already reaped (a PostgreSQL backend is a child of the postmaster, which waits for it).
pub fn tree_ticks(pid: u32) -> Option<u64> {
    let own = read_stat(&pid.to_string())?;
    let mut total = own.utime + own.stime + own.cutime + own.cstime;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Some(s) = read_stat(name).filter(|s| s.ppid == pid) {
            total += s.utime + s.stime + s.cutime + s.cstime;
        }
    }
    Some(total)
}

/// CPU ticks of bench's own process (all threads).
pub fn self_ticks() -> Option<u64> {
    read_stat("self").map(|s| s.utime + s.stime)
}

/// `VmRSS` of `/proc/<pid>/status`, bytes.
pub fn parse_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// bench's resident memory, bytes.
pub fn self_rss() -> Option<u64> {
    parse_rss(&std::fs::read_to_string("/proc/self/status").ok()?)
}

/// CPU percent of one core from a tick delta over `seconds`.
pub fn cpu_pct(ticks: u64, seconds: f64) -> f64 {
    if seconds <= 0.0 {
        0.0
    } else {
        ticks as f64 / TICKS_PER_S / seconds * 100.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_name() {
        let line = "4242 (postgres: esp (x) idle) S 4000 4242 4242 0 -1 4194560 1 0 0 0 \
                    17 5 3 2 20 0 1 0 100 1000 10 18446744073709551615";
        let s = parse_stat(line).unwrap();
        assert_eq!(
            s,
            Stat {
                ppid: 4000,
                utime: 17,
                stime: 5,
                cutime: 3,
                cstime: 2
            }
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn rss_and_pct() {
        assert_eq!(parse_rss("Name: x\nVmRSS:\t  2048 kB\n"), Some(2048 * 1024));
        assert_eq!(parse_rss("Name: x\n"), None);
        assert!((cpu_pct(150, 1.5) - 100.0).abs() < 1e-9);
        assert_eq!(cpu_pct(10, 0.0), 0.0);
    }

    #[test]
    fn this_process_is_readable() {
        assert!(self_ticks().is_some());
        assert!(self_rss().unwrap() > 0);
        assert!(tree_ticks(std::process::id()).is_some());
    }
}
