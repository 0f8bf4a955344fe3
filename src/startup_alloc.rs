//! The `berth` binary's global allocator: a bump arena in front of the system allocator.
//!
//! A `berth` process lives for milliseconds and allocates a few hundred small blocks
//! (clap's parser, config.json, the state), nearly all of them kept until it exits. A
//! general-purpose allocator spends its time on bookkeeping berth never needs; musl's
//! returns memory to the kernel block by block, dozens of munmap calls per `run`. Here an
//! allocation takes the next bytes of a static arena (in .bss, so a page costs nothing until
//! it is touched), and freeing gives memory back only when it is the newest block, which
//! covers the common temporary (a formatted path, a buffer grown and dropped).
//!
//! When the arena is used up, allocations go to the system allocator, so a long-lived
//! `berth events` or a foreground `run` that waits for hours holds at most the arena and
//! then behaves as with the system allocator.
//!
//! No locks: one compare-and-swap per call. A child right after fork or clone can allocate
//! without the risk of a lock held by a thread that did not come along.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Arena size: several times what a `run` or `exec` allocates.
const ARENA_BYTES: usize = 1 << 20;

/// Every block is aligned to at least this, as malloc's are: code that allocates bytes and
/// then reads a struct from them (nix's control-message buffers, a `Vec<u8>` read as
/// `cmsghdr`) relies on it, whatever alignment its layout asked for.
const MIN_ALIGN: usize = 16;

#[repr(C, align(4096))]
struct Arena(UnsafeCell<[u8; ARENA_BYTES]>);

// SAFETY: the bytes are handed out in disjoint ranges, each reserved by a successful
// compare-and-swap on `StartupAlloc::next`, so no two owners share a byte.
unsafe impl Sync for Arena {}

/// Bump allocation from a fixed arena, the system allocator past its end.
pub struct StartupAlloc {
    arena: Arena,
    /// Offset of the first free byte of the arena.
    next: AtomicUsize,
}

impl StartupAlloc {
    pub const fn new() -> Self {
        StartupAlloc {
            arena: Arena(UnsafeCell::new([0; ARENA_BYTES])),
            next: AtomicUsize::new(0),
        }
    }

    fn base(&self) -> usize {
        self.arena.0.get() as usize
    }

    fn owns(&self, ptr: *mut u8) -> bool {
        let p = ptr as usize;
        p >= self.base() && p < self.base() + ARENA_BYTES
    }

    /// Reserves `layout` in the arena; None when it does not fit.
    fn bump(&self, layout: Layout) -> Option<*mut u8> {
        let base = self.base();
        let align = layout.align().max(MIN_ALIGN);
        let mut cur = self.next.load(Ordering::Relaxed);
        loop {
            let start = (base + cur).checked_add(align - 1)? & !(align - 1);
            let end = start.checked_add(layout.size())?;
            if end > base + ARENA_BYTES {
                return None;
            }
            match self.next.compare_exchange_weak(
                cur,
                end - base,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(start as *mut u8),
                Err(now) => cur = now,
            }
        }
    }

    /// Bytes of the arena in use (for tests).
    pub fn used(&self) -> usize {
        self.next.load(Ordering::Relaxed)
    }
}

impl Default for StartupAlloc {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: every block returned is either a fresh, disjoint, suitably aligned arena range of
// at least `layout.size()` bytes, or comes from `System` with the same layout; `dealloc` and
// `realloc` send system blocks back to `System` and never hand out an arena range twice
// while it is live (a range is reused only after its owner freed it as the newest block).
unsafe impl GlobalAlloc for StartupAlloc {
    #[inline(never)] // one copy, not one per allocation site (it grew .text by 15%)
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.bump(layout) {
            Some(p) => p,
            // SAFETY: forwarded with the caller's layout, as GlobalAlloc requires.
            None => unsafe { System.alloc(layout) },
        }
    }

    #[inline(never)] // one copy, not one per allocation site (it grew .text by 15%)
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !self.owns(ptr) {
            // SAFETY: `ptr` came from `System.alloc` with this layout (it is not ours).
            unsafe { System.dealloc(ptr, layout) };
            return;
        }
        let start = ptr as usize - self.base();
        // Only the newest block goes back; if another allocation won the race, keep it.
        let _ = self.next.compare_exchange(
            start + layout.size(),
            start,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    #[inline(never)] // one copy, not one per allocation site (it grew .text by 15%)
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !self.owns(ptr) {
            // SAFETY: a system block, resized by the system allocator with its layout.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // The newest block grows or shrinks where it is: the swap succeeds only when the
        // block ends where the free space begins.
        let start = ptr as usize - self.base();
        if new_size <= ARENA_BYTES - start
            && self
                .next
                .compare_exchange(
                    start + layout.size(),
                    start + new_size,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            return ptr;
        }
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return std::ptr::null_mut();
        };
        // SAFETY: `new_layout` has a non-zero size (realloc's contract) and a valid align.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are live and distinct; the copy stays within both.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn blocks_are_aligned_disjoint_and_the_newest_is_given_back() {
        static A: StartupAlloc = StartupAlloc::new();
        let a = &A;
        unsafe {
            let p1 = a.alloc(layout(3, 1));
            // A byte block after an odd-sized one is still aligned as malloc's are.
            let bytes = a.alloc(layout(5, 1));
            assert_eq!(
                bytes as usize % MIN_ALIGN,
                0,
                "byte blocks are aligned as malloc's"
            );
            a.dealloc(bytes, layout(5, 1));
            let p2 = a.alloc(layout(16, 16));
            assert_eq!(p2 as usize % 16, 0);
            assert!(p2 as usize >= p1 as usize + 3);
            let used = a.used();
            let p3 = a.alloc(layout(100, 8));
            a.dealloc(p3, layout(100, 8));
            assert_eq!(a.used(), used, "the newest block goes back");
            // An older block stays taken: freeing it must not move the bump pointer.
            a.dealloc(p1, layout(3, 1));
            assert_eq!(a.used(), used);
            let p4 = a.alloc(layout(8, 8));
            assert!(
                p4 as usize >= p2 as usize + 16,
                "no overlap with a live block"
            );
        }
    }

    #[test]
    fn realloc_grows_the_newest_block_in_place_and_copies_others() {
        static A: StartupAlloc = StartupAlloc::new();
        let a = &A;
        unsafe {
            let p = a.alloc(layout(8, 8));
            p.copy_from_nonoverlapping(b"abcdefgh".as_ptr(), 8);
            let q = a.realloc(p, layout(8, 8), 64);
            assert_eq!(q, p, "the newest block grows where it is");
            let other = a.alloc(layout(8, 8));
            let r = a.realloc(q, layout(64, 8), 128);
            assert_ne!(r, q, "a block with a newer one after it moves");
            assert_eq!(std::slice::from_raw_parts(r, 8), b"abcdefgh");
            assert!(r as usize >= other as usize + 8);
        }
    }

    #[test]
    fn past_the_arena_the_system_allocator_serves_and_frees() {
        static A: StartupAlloc = StartupAlloc::new();
        let a = &A;
        unsafe {
            let big = a.alloc(layout(ARENA_BYTES - 64, 8));
            assert!(a.owns(big));
            let sys = a.alloc(layout(4096, 8));
            assert!(
                !sys.is_null() && !a.owns(sys),
                "a block that does not fit is the system's"
            );
            sys.write_bytes(7, 4096);
            let sys2 = a.realloc(sys, layout(4096, 8), 8192);
            assert!(!a.owns(sys2));
            assert_eq!(*sys2.add(4095), 7);
            a.dealloc(sys2, layout(8192, 8));
            a.dealloc(big, layout(ARENA_BYTES - 64, 8));
            assert_eq!(a.used(), 0);
        }
    }
}
