//! Files the server writes for itself: who owns a temp file (by the writer's pid) and
//! whether that writer is still alive, so an abandoned temp can be removed safely.

/// Whether process `pid` is alive. Temp files and staged rows carry their writer's pid;
/// a later writer removes only those whose writer is gone.
#[cfg(target_os = "linux")]
pub fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Without a cheap liveness check, keep the files: never delete a live writer's temp.
#[cfg(not(target_os = "linux"))]
pub fn process_alive(_pid: u32) -> bool {
    true
}
