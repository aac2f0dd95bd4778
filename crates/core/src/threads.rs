//! Threads that do background work the user is not waiting for.

/// Lower the calling thread's scheduling priority (nice +10), so that a background job — the
/// search index's symbol pass, which keeps every core busy for minutes on a large tree —
/// gives way to the work someone is waiting for: a saved file's update, a query. It only
/// yields when others want the CPU; alone it runs as fast as before. Linux only (its nice
/// value is per thread); elsewhere, and if the call fails, nothing changes.
pub fn background_priority() {
    set_own_nice(BACKGROUND_NICE);
}

/// The nice value of a background thread (0 is the default, 19 the lowest priority).
pub const BACKGROUND_NICE: i32 = 10;

/// Lower the calling thread's priority (nice +10) for the threads of a pipeline's parallel
/// stage, so that its serial stage (the one thread that writes, in order, what they make)
/// is never the one left waiting for a core. On 2 cores an ingest's two parsing threads and
/// its writer shared them evenly, so the writer, the slowest stage, got two thirds of a
/// core and the parsers ended up waiting on it: 1M JSON lines took 1.78-1.89 s; with the
/// parsers at +10, 1.66-1.70 s (+4: 1.63-1.76 s, +19: 1.62-1.85 s; BENCHMARKS.md). Like
/// [`background_priority`] it only yields when others want the CPU. Linux only; elsewhere,
/// and if the call fails, nothing changes.
pub fn parallel_stage_priority() {
    set_own_nice(PARALLEL_STAGE_NICE);
}

/// The nice value of [`parallel_stage_priority`].
pub const PARALLEL_STAGE_NICE: i32 = 10;

fn set_own_nice(nice: i32) {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid and setpriority take integers only; they change this thread's nice value.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
}

#[cfg(test)]
mod tests {
    #[cfg(target_os = "linux")]
    #[test]
    fn a_background_thread_runs_at_a_lower_priority_and_the_others_do_not() {
        let own = || {
            // SAFETY: as above; getpriority reads this thread's nice value.
            unsafe {
                *libc::__errno_location() = 0;
                libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t)
            }
        };
        let before = own();
        // The nice value of a new thread that called `lower` first.
        let after = |lower: fn()| {
            std::thread::spawn(move || {
                lower();
                own()
            })
            .join()
            .unwrap()
        };
        let background = after(super::background_priority);
        assert_eq!(background, (before + super::BACKGROUND_NICE).min(19));
        let stage = after(super::parallel_stage_priority);
        assert_eq!(stage, (before + super::PARALLEL_STAGE_NICE).min(19));
        assert_eq!(own(), before, "the calling thread keeps its priority");
    }
}
