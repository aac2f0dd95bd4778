//! Byte buffers handed back after use and filled again. A new multi-megabyte buffer for every
//! chunk of a stream is new pages from the kernel every time (zeroed, faulted in, cold in the
//! cache); a few kept buffers are not. Ingest's reader and synth's encoders keep theirs here.

use std::sync::Mutex;

/// Buffers handed back, up to a number of them and a size each.
pub struct SpareBuffers {
    spare: Mutex<Vec<Vec<u8>>>,
    /// Buffers kept at most (about what is in flight at once).
    keep: usize,
    /// A buffer whose capacity grew past this (for an outsized item) is freed, not kept.
    keep_up_to: usize,
}

impl SpareBuffers {
    pub fn new(keep: usize, keep_up_to: usize) -> Self {
        SpareBuffers {
            spare: Mutex::new(Vec::new()),
            keep,
            keep_up_to,
        }
    }

    /// An empty buffer with room for `room` bytes, a spare one when there is one.
    pub fn take(&self, room: usize) -> Vec<u8> {
        let mut buf = self
            .spare
            .lock()
            .ok()
            .and_then(|mut spare| spare.pop())
            .unwrap_or_default();
        buf.clear();
        buf.reserve(room);
        buf
    }

    /// Hand a buffer back once its contents are used.
    pub fn give(&self, mut buf: Vec<u8>) {
        if buf.capacity() > self.keep_up_to {
            return;
        }
        if let Ok(mut spare) = self.spare.lock()
            && spare.len() < self.keep
        {
            buf.clear();
            spare.push(buf);
        }
    }

    /// Buffers kept now.
    pub fn kept(&self) -> usize {
        self.spare.lock().map_or(0, |s| s.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_filled_again_and_outsized_ones_freed() {
        let buffers = SpareBuffers::new(4, 1 << 20);
        let mut first = buffers.take(1 << 16);
        first.extend_from_slice(b"{}\n");
        let at = first.as_ptr();
        buffers.give(first);
        let again = buffers.take(1 << 16);
        assert_eq!(
            (again.as_ptr(), again.len()),
            (at, 0),
            "the same memory, emptied"
        );
        let mut long = buffers.take((1 << 20) + 1);
        long.push(b'x');
        buffers.give(long);
        buffers.give(again);
        assert_eq!(buffers.kept(), 1, "only the one within the size kept");
    }
}
