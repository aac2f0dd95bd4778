//! tree-sitter's allocator: mimalloc instead of the C library's `malloc`.
//!
//! A parse allocates and frees a few small objects for every token (subtrees, stack nodes),
//! and a tree's release frees them all again. On glibc's allocator that was 12 % of a
//! parse-only run over the gigabyte corpus, and 29 % of the symbol pass's parsing threads:
//! there the parses share the heap with the documents the pass builds and the index writer
//! frees, and glibc's bins fragmented (`_int_malloc`, `malloc_consolidate` and
//! `unlink_chunk` walking free lists: 71 s of 248 s). On mimalloc (per-thread pages, freed
//! in place) the same pass spent 183 s parsing instead of 242 s, and tree-sitter alone
//! parsed 14.5 MB/s instead of 11.5-13 (BENCHMARKS.md, issue 18).
//!
//! Only tree-sitter's own allocations go to mimalloc: the rest of the process stays on the
//! system allocator, whose memory use the server's soak measured (mimalloc as the global
//! allocator held 2.5x the memory there). A tree lives for one parse, so what mimalloc keeps
//! is bounded by the largest parse of each parsing thread.

use std::ffi::c_void;
use std::sync::Once;

use libmimalloc_sys::{mi_free, mi_malloc, mi_realloc, mi_zalloc};

/// Make mimalloc tree-sitter's allocator. Must run before any tree-sitter object exists:
/// [`super::with_parser`], the one place parsers are made, calls it first.
pub(super) fn install() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let allocator = tree_sitter::Allocator {
            malloc,
            calloc,
            realloc,
            free: mi_free,
        };
        // SAFETY: the four functions are one family (mimalloc's), never return null for a
        // non-zero size (they abort, as tree-sitter's own default does when out of memory),
        // return `malloc`-aligned memory, and this runs once, before any tree-sitter object
        // exists (every parser is made by `with_parser`, after this returns; `Once` makes
        // the other threads wait).
        unsafe { tree_sitter::set_allocator(Some(allocator)) };
    });
}

/// Give back what mimalloc keeps for the calling thread's parses. mimalloc returns freed
/// pages to the system only when the thread that owns them allocates or frees again, so the
/// pages of a pass's last parses stayed with its idle threads: a server's idle RSS after
/// indexing a 627 MB tree (a first build: text, then the background pass) was 222 MB, against
/// 176 MB with tree-sitter on glibc; collected after the pass, 157 MB. Call it on every
/// thread that parsed, after a pass.
pub(crate) fn release_thread_memory() {
    // SAFETY: mi_collect only walks the calling thread's own heap.
    unsafe { libmimalloc_sys::mi_collect(true) };
}

/// A pointer mimalloc returned, or the end of the process when it had no memory to give.
fn given(ptr: *mut c_void, size: usize) -> *mut c_void {
    if ptr.is_null() && size != 0 {
        std::process::abort();
    }
    ptr
}

unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    // SAFETY: mi_malloc accepts any size.
    given(unsafe { mi_malloc(size) }, size)
}

unsafe extern "C" fn calloc(count: usize, size: usize) -> *mut c_void {
    let Some(bytes) = count.checked_mul(size) else {
        std::process::abort();
    };
    // SAFETY: mi_zalloc accepts any size and zeroes what it returns, as calloc does.
    given(unsafe { mi_zalloc(bytes) }, bytes)
}

unsafe extern "C" fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: tree-sitter passes null or a pointer it got from this family.
    given(unsafe { mi_realloc(ptr, size) }, size)
}

#[cfg(test)]
mod tests {
    use super::super::{Language, extract};
    use libmimalloc_sys::mi_free;
    use std::ffi::c_void;

    #[test]
    fn parsers_on_many_threads_allocate_and_free_through_mimalloc() {
        // Trees made and dropped on several threads at once (what the symbol pass does), on
        // the allocator `install` put in place before the first parser.
        let source = "struct Point { x: i32 }\nimpl Point { fn norm(&self) -> i32 { self.x } }\n";
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(move || {
                    (0..200)
                        .map(|_| extract(Language::Rust, source).len())
                        .sum::<usize>()
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().expect("a parsing thread panicked"), 200 * 3);
        }
        unsafe extern "C" {
            static ts_current_malloc: unsafe extern "C" fn(usize) -> *mut c_void;
            static ts_current_free: unsafe extern "C" fn(*mut c_void);
        }
        // SAFETY: tree-sitter's allocator pointers, read once no thread is setting them.
        let (m, f) = unsafe { (ts_current_malloc as *const (), ts_current_free as *const ()) };
        assert_eq!(
            m,
            super::malloc as *const (),
            "tree-sitter does not allocate with mimalloc"
        );
        assert_eq!(f, mi_free as *const ());
    }
}
