//! CPU time of a process (user + system, all its threads), from `/proc/<pid>/stat`: the generator's
//! own share of the machine, and that of the processes it was asked to watch (the shop).

use std::time::Duration;

/// The kernel's unit for those fields, `USER_HZ`: 100 a second on Linux whatever the kernel's tick.
const TICKS_PER_SECOND: u64 = 100;

/// User + system CPU time a process has used so far; `None` for this process.
pub fn cpu_time(pid: Option<u32>) -> Result<Duration, String> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let stat = std::fs::read_to_string(&path).map_err(|error| format!("{path}: {error}"))?;
    parse_stat(&stat).ok_or_else(|| format!("{path}: not the stat format expected"))
}

/// Fields 14 and 15 (utime, stime) of a stat line. The command name, field 2, is in parentheses
/// and may hold spaces and parentheses itself, so fields are counted from its last `)`.
fn parse_stat(stat: &str) -> Option<Duration> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    // after the name: state (3) … utime (14), stime (15)
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = utime + stime;
    Some(Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND))
}

/// Time so far in which some runnable task of the machine waited for a CPU (the kernel's pressure
/// stall information, `/proc/pressure/cpu`, the `some` line's `total`, in µs). Over a run, its
/// growth divided by the wall time says how crowded the CPUs were: near 0 on a quiet machine, near
/// 1 when something always waited (other builds, the generator and the server all at once).
pub fn cpu_pressure() -> Result<Duration, String> {
    let path = "/proc/pressure/cpu";
    let text = std::fs::read_to_string(path).map_err(|error| format!("{path}: {error}"))?;
    parse_pressure(&text).ok_or_else(|| format!("{path}: not the format expected"))
}

fn parse_pressure(text: &str) -> Option<Duration> {
    let some = text.lines().find(|line| line.starts_with("some "))?;
    let total = some
        .split_whitespace()
        .find_map(|field| field.strip_prefix("total="))?;
    Some(Duration::from_micros(total.parse().ok()?))
}

/// How many CPUs this process may run on.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_system_time_are_read_past_an_awkward_name() {
        let stat = "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 1500 0 0 0 250 75 0 0 20 0 3 0 100 0 0";
        assert_eq!(parse_stat(stat), Some(Duration::from_millis(3_250)));
        assert_eq!(parse_stat("4242 (short) S 1"), None);
    }

    #[test]
    fn the_pressure_total_is_read_from_the_some_line() {
        let text = "some avg10=98.09 avg60=96.62 avg300=91.94 total=1172731002\n\
                    full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
        assert_eq!(
            parse_pressure(text),
            Some(Duration::from_micros(1_172_731_002))
        );
        assert_eq!(parse_pressure("full avg10=0.00 total=5\n"), None);
    }

    #[test]
    fn this_process_has_a_cpu_time() {
        // spend a little CPU, then it must show (the clock has 10 ms ticks)
        let mut x = 0u64;
        for i in 0..50_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(cpu_time(None).expect("/proc/self/stat") > Duration::ZERO);
        assert!(cpu_time(Some(u32::MAX)).is_err());
        assert!(cores() >= 1);
    }
}
