//! Threads that do background work the user is not waiting for.

/// Lower the calling thread's scheduling priority (nice +10), so that a background job — the
/// search index's symbol pass, which keeps every core busy for minutes on a large tree —
/// gives way to the work someone is waiting for: a saved file's update, a query. It only
/// yields when others want the CPU; alone it runs as fast as before. Linux only (its nice
/// value is per thread); elsewhere, and if the call fails, nothing changes.
pub fn background_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid and setpriority take integers only; they change this thread's nice value.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, BACKGROUND_NICE);
    }
}

/// The nice value of a background thread (0 is the default, 19 the lowest priority).
pub const BACKGROUND_NICE: i32 = 10;

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
        let background = std::thread::spawn(move || {
            super::background_priority();
            own()
        })
        .join()
        .unwrap();
        assert_eq!(background, (before + super::BACKGROUND_NICE).min(19));
        assert_eq!(own(), before, "the calling thread keeps its priority");
    }
}
