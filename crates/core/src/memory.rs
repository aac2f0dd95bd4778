//! The process's use of glibc's allocator: how many arenas it may keep, and giving freed
//! memory back after a large run. Both are no-ops off glibc.

/// One glibc malloc arena per core, and two more. glibc gives each thread that allocates
/// under contention an arena of its own (up to 8 per core) and keeps what is freed there:
/// under the soak's 50 clients the server's RSS stepped up after every generation and ingest
/// (+20 % over ten minutes, `malloc_trim` at each run's end included). Capped, it stays flat
/// (BENCHMARKS.md, issue 20); mimalloc was measured too and held 2.5x the memory.
///
/// The two more are for the parallel readers of an ingest: a parsing thread per core, the
/// reading thread and the writing one allocate at once, and past the cap glibc puts a thread
/// in whichever arena is free at its first allocation. Capped at one per core, two parsing
/// threads shared one arena in about a third of the runs, and those ingests took 1.4-2.6x
/// as long (BENCHMARKS.md, issue 19).
///
/// Call it first thing in `main`, before any other thread exists. A `MALLOC_ARENA_MAX` the
/// user set wins (glibc reads it itself).
pub fn cap_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let arenas = i32::try_from(cores + 2).unwrap_or(i32::MAX);
        // SAFETY: mallopt takes two integers and only sets the allocator's own parameter.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}

/// Give the allocator's free memory back to the system after a run. A generation, ingest
/// or index pass frees its batch buffers at its end, but glibc keeps freed memory in the
/// arena of the thread that used it, so without this the server's RSS stepped up after each
/// such run (the soak: +45 % over 10 minutes), and a symbol pass started on top of what the
/// text pass before it had freed. Takes a few milliseconds.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointer; it only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}
