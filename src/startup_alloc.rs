//! The `berth` binary's global allocator: a bump arena in front of the system allocator.
//!
//! A `berth` process lives for milliseconds and allocates a few thousand small blocks
//! (clap's parser, config.json, the state), most of them temporaries. A general-purpose
//! allocator spends its time on bookkeeping berth never needs; musl's returns memory to
//! the kernel block by block, dozens of munmap calls per `run`. Here an allocation takes
//! the next bytes of a static arena (in .bss, so a page costs nothing until it is touched).
//! Memory is reused, so that a process touches few pages (each first touch is a page fault,
//! and after the init's clone a copy-on-write fault):
//! * the newest block, freed, gives its bytes back to the bump pointer (a formatted path,
//!   a buffer grown and dropped);
//! * any other block up to 4 KiB goes on a free list of its size class (blocks are rounded
//!   up to the class size), and the next allocation of that class takes it. Without reuse,
//!   95% of the arena a `run` or `state` touched was garbage;
//! * a zeroed allocation writes zeros only over bytes the arena handed out before: past
//!   that high-water mark the bytes are still the zeros of .bss (the sync channel's 64 KiB
//!   receive buffer touched 16 pages per message otherwise).
//!
//! When the arena is used up, allocations go to the system allocator, so a long-lived
//! `berth events` or a foreground `run` that waits for hours holds at most the arena and
//! then behaves as with the system allocator.
//!
//! Never a wait: the bump pointer moves by compare-and-swap, and the free lists are taken
//! with a try-lock; when it is held (only ever by another thread, which berth never starts,
//! or one that did not come along into a forked child) the allocation bumps instead and a
//! freed block is simply not reused. A child right after fork or clone can allocate.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Arena size: several times what a `run` or `exec` allocates.
const ARENA_BYTES: usize = 1 << 20;

/// Every block is aligned to at least this, as malloc's are: code that allocates bytes and
/// then reads a struct from them (nix's control-message buffers, a `Vec<u8>` read as
/// `cmsghdr`) relies on it, whatever alignment its layout asked for.
const MIN_ALIGN: usize = 16;

/// Size classes: 16 to 256 bytes in steps of 16, then four per power of two up to 4 KiB.
const CLASSES: usize = 32;
/// The largest block a free list keeps.
const MAX_CLASSED: usize = 4096;

/// The class of a `size`-byte block (≤ [`MAX_CLASSED`]): the smallest that holds it.
fn class_of(size: usize) -> Option<usize> {
    if size > MAX_CLASSED {
        return None;
    }
    let size = size.max(1);
    if size <= 256 {
        return Some(size.div_ceil(16) - 1);
    }
    // 2^p < size <= 2^(p+1), p >= 8; four classes of 2^(p-2) bytes each in that range.
    let p = (usize::BITS - 1 - (size - 1).leading_zeros()) as usize;
    Some(16 + (p - 8) * 4 + (size - (1 << p) - 1) / (1 << (p - 2)))
}

/// The bytes a block of class `c` spans.
fn class_size(c: usize) -> usize {
    if c < 16 {
        return (c + 1) * 16;
    }
    let p = 8 + (c - 16) / 4;
    (1 << p) + ((c - 16) % 4 + 1) * (1 << (p - 2))
}

/// The size class of a block with `layout`, when a free list may hold it.
fn class_of_layout(layout: Layout) -> Option<usize> {
    if layout.align() > MIN_ALIGN {
        return None;
    }
    class_of(layout.size())
}

/// The bytes the arena gives a block with `layout`.
fn block_size(layout: Layout) -> usize {
    class_of_layout(layout).map_or(layout.size(), class_size)
}

#[repr(C, align(4096))]
struct Arena(UnsafeCell<[u8; ARENA_BYTES]>);

// SAFETY: the bytes are handed out in disjoint ranges, each reserved by a successful
// compare-and-swap on `StartupAlloc::next` or taken off a free list under its lock, so no
// two owners share a byte.
unsafe impl Sync for Arena {}

/// Heads of the free lists: per class, 1 + the arena offset of the first free block (0:
/// empty). A free block's first 4 bytes hold the next one the same way.
struct FreeLists {
    locked: AtomicBool,
    heads: UnsafeCell<[u32; CLASSES]>,
}

// SAFETY: `heads`, and the links inside free blocks, are only touched by the holder of
// `locked`.
unsafe impl Sync for FreeLists {}

/// Bump allocation from a fixed arena with size-class reuse, the system allocator past its
/// end.
pub struct StartupAlloc {
    arena: Arena,
    /// Offset of the first free byte of the arena.
    next: AtomicUsize,
    /// High-water mark of `next`: bytes from here on were never handed out (still zero).
    touched: AtomicUsize,
    free: FreeLists,
}

impl StartupAlloc {
    pub const fn new() -> Self {
        StartupAlloc {
            arena: Arena(UnsafeCell::new([0; ARENA_BYTES])),
            next: AtomicUsize::new(0),
            touched: AtomicUsize::new(0),
            free: FreeLists {
                locked: AtomicBool::new(false),
                heads: UnsafeCell::new([0; CLASSES]),
            },
        }
    }

    fn base(&self) -> usize {
        self.arena.0.get() as usize
    }

    fn owns(&self, ptr: *mut u8) -> bool {
        let p = ptr as usize;
        p >= self.base() && p < self.base() + ARENA_BYTES
    }

    /// Reserves `size` bytes aligned to `align` past the bump pointer; None when they do
    /// not fit. Also returns the high-water mark before the reservation: the block's bytes
    /// from there on are still zero.
    fn bump(&self, size: usize, align: usize) -> Option<(*mut u8, usize)> {
        let base = self.base();
        let mut cur = self.next.load(Ordering::Relaxed);
        loop {
            let start = (base + cur).checked_add(align - 1)? & !(align - 1);
            let end = start.checked_add(size)?;
            if end > base + ARENA_BYTES {
                return None;
            }
            match self.next.compare_exchange_weak(
                cur,
                end - base,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    let clean_from = self.touched.fetch_max(end - base, Ordering::Relaxed);
                    return Some((start as *mut u8, clean_from));
                }
                Err(now) => cur = now,
            }
        }
    }

    /// Runs `f` on the free lists when nobody else holds them; None otherwise.
    fn with_free_lists<R>(&self, f: impl FnOnce(&mut [u32; CLASSES]) -> R) -> Option<R> {
        if self
            .free
            .locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return None;
        }
        // SAFETY: the lock just taken makes this the only access to the heads.
        let result = f(unsafe { &mut *self.free.heads.get() });
        self.free.locked.store(false, Ordering::Release);
        Some(result)
    }

    /// Takes a free block of class `c`, if there is one.
    fn pop(&self, c: usize) -> Option<*mut u8> {
        let base = self.base();
        self.with_free_lists(|heads| {
            let head = heads[c];
            if head == 0 {
                return None;
            }
            let block = (base + head as usize - 1) as *mut u8;
            // SAFETY: a free block of the arena, 16-aligned and at least 16 bytes long,
            // whose first 4 bytes are its link; we hold the lists' lock.
            heads[c] = unsafe { block.cast::<u32>().read() };
            Some(block)
        })
        .flatten()
    }

    /// Puts the block at `offset` on the free list of class `c` (dropped when the lists
    /// are busy: the bytes are then not reused, nothing else happens).
    fn push(&self, c: usize, offset: usize) {
        let base = self.base();
        let _ = self.with_free_lists(|heads| {
            // SAFETY: the caller gave this block up; it is 16-aligned and at least 16
            // bytes long; we hold the lists' lock.
            unsafe { ((base + offset) as *mut u32).write(heads[c]) };
            heads[c] = (offset + 1) as u32;
        });
    }

    /// An arena block for `layout` and the offset from which its bytes are known to be
    /// zero (for `alloc_zeroed`), or None when the arena is full.
    fn alloc_in_arena(&self, layout: Layout) -> Option<(*mut u8, usize)> {
        match class_of_layout(layout) {
            Some(c) => match self.pop(c) {
                Some(p) => Some((p, usize::MAX)),
                None => self.bump(class_size(c), MIN_ALIGN),
            },
            None => self.bump(layout.size(), layout.align().max(MIN_ALIGN)),
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

// SAFETY: every block returned is either an arena range of at least `layout.size()` bytes,
// aligned as asked (at least 16), reserved by the bump pointer or taken off a free list
// (each block is on at most one list, and only once its owner freed it), or comes from
// `System` with the same layout; `dealloc` and `realloc` send system blocks back to
// `System` and recompute an arena block's size from its layout exactly as `alloc` did.
unsafe impl GlobalAlloc for StartupAlloc {
    #[inline(never)] // one copy, not one per allocation site (it grew .text by 15%)
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.alloc_in_arena(layout) {
            Some((p, _)) => p,
            // SAFETY: forwarded with the caller's layout, as GlobalAlloc requires.
            None => unsafe { System.alloc(layout) },
        }
    }

    #[inline(never)] // one copy, not one per allocation site
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let Some((p, clean_from)) = self.alloc_in_arena(layout) else {
            // SAFETY: forwarded with the caller's layout, as GlobalAlloc requires.
            return unsafe { System.alloc_zeroed(layout) };
        };
        let start = p as usize - self.base();
        let dirty = clean_from.saturating_sub(start).min(layout.size());
        // SAFETY: the first `dirty` bytes of the block we just reserved; the rest were
        // never handed out and are still .bss zeros.
        unsafe { p.write_bytes(0, dirty) };
        p
    }

    #[inline(never)] // one copy, not one per allocation site (it grew .text by 15%)
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !self.owns(ptr) {
            // SAFETY: `ptr` came from `System.alloc` with this layout (it is not ours).
            unsafe { System.dealloc(ptr, layout) };
            return;
        }
        let start = ptr as usize - self.base();
        let size = block_size(layout);
        // The newest block goes back to the bump pointer; another, to its class's list.
        if self
            .next
            .compare_exchange(start + size, start, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            if let Some(c) = class_of_layout(layout) {
                self.push(c, start);
            }
        }
    }

    #[inline(never)] // one copy, not one per allocation site (it grew .text by 15%)
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !self.owns(ptr) {
            // SAFETY: a system block, resized by the system allocator with its layout.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return std::ptr::null_mut();
        };
        let start = ptr as usize - self.base();
        let (old, new) = (block_size(layout), block_size(new_layout));
        if old == new {
            return ptr; // the same class: the block already spans the new size
        }
        // The newest block grows or shrinks where it is: the swap succeeds only when the
        // block ends where the free space begins.
        if new <= ARENA_BYTES - start
            && self
                .next
                .compare_exchange(
                    start + old,
                    start + new,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            self.touched.fetch_max(start + new, Ordering::Relaxed);
            return ptr;
        }
        // SAFETY: `new_layout` has a non-zero size (realloc's contract) and a valid align.
        let moved = unsafe { self.alloc(new_layout) };
        if !moved.is_null() {
            // SAFETY: both blocks are live and distinct; the copy stays within both.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        moved
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
            // An older block does not move the bump pointer: it goes to its class's list,
            // and the next block of that class is it.
            a.dealloc(p1, layout(3, 1));
            assert_eq!(a.used(), used);
            let p4 = a.alloc(layout(8, 8));
            assert_eq!(p4, p1, "the freed 16-byte block is reused");
            assert_eq!(a.used(), used, "reuse does not bump");
            let p5 = a.alloc(layout(8, 8));
            assert!(
                p5 as usize >= p2 as usize + 16,
                "no overlap with a live block"
            );
        }
    }

    #[test]
    fn size_classes_are_tight_and_cover_every_size() {
        assert_eq!(class_of(1), Some(0));
        assert_eq!(class_size(CLASSES - 1), MAX_CLASSED);
        assert_eq!(class_of(MAX_CLASSED + 1), None);
        for size in 1..=MAX_CLASSED {
            let c = class_of(size).unwrap();
            assert!(c < CLASSES);
            assert!(class_size(c) >= size, "{size} fits class {c}");
            assert!(
                c == 0 || class_size(c - 1) < size,
                "{size}: class {c} is the smallest"
            );
            assert_eq!(class_size(c) % MIN_ALIGN, 0);
        }
    }

    #[test]
    fn reused_blocks_keep_classes_apart_and_zeroed_ones_are_zero() {
        static A: StartupAlloc = StartupAlloc::new();
        let a = &A;
        unsafe {
            let small = a.alloc(layout(40, 8)); // class 48
            let big = a.alloc(layout(1000, 8)); // class 1024
            let _pin = a.alloc(layout(8, 8)); // keeps the two above from being the newest
            small.write_bytes(0xAB, 40);
            big.write_bytes(0xCD, 1000);
            a.dealloc(small, layout(40, 8));
            a.dealloc(big, layout(1000, 8));
            assert_eq!(a.alloc(layout(1000, 8)), big, "same class: reused");
            // A dirty reused block still comes back zeroed.
            let z = a.alloc_zeroed(layout(33, 1));
            assert_eq!(z, small, "48-byte class: reused");
            assert!(std::slice::from_raw_parts(z, 33).iter().all(|&b| b == 0));
            // Fresh arena bytes are zero without being written.
            let fresh = a.alloc_zeroed(layout(64 * 1024, 1));
            assert!(std::slice::from_raw_parts(fresh, 64 * 1024)
                .iter()
                .all(|&b| b == 0));
            // Over-aligned blocks never go on a list.
            let aligned = a.alloc(layout(64, 64));
            assert_eq!(aligned as usize % 64, 0);
            a.dealloc(fresh, layout(64 * 1024, 1));
            let _pin2 = a.alloc(layout(8, 8));
            a.dealloc(aligned, layout(64, 64));
            let again = a.alloc(layout(64, 16));
            assert_ne!(again, aligned, "the 64-aligned block was not listed");
        }
    }

    #[test]
    fn dirty_bytes_given_back_to_the_bump_pointer_are_zeroed_again() {
        static A: StartupAlloc = StartupAlloc::new();
        let a = &A;
        unsafe {
            let p = a.alloc(layout(8192, 1));
            p.write_bytes(0xFF, 8192);
            a.dealloc(p, layout(8192, 1)); // the newest: back to the bump pointer
            let z = a.alloc_zeroed(layout(16384, 1));
            assert_eq!(z, p);
            assert!(std::slice::from_raw_parts(z, 16384).iter().all(|&b| b == 0));
        }
    }

    #[test]
    fn realloc_within_a_class_keeps_the_block() {
        static A: StartupAlloc = StartupAlloc::new();
        let a = &A;
        unsafe {
            let p = a.alloc(layout(20, 8)); // class 32
            let _pin = a.alloc(layout(8, 8));
            p.copy_from_nonoverlapping(b"0123456789".as_ptr(), 10);
            assert_eq!(a.realloc(p, layout(20, 8), 30), p, "still class 32");
            let q = a.realloc(p, layout(30, 8), 100);
            assert_ne!(q, p, "a bigger class moves (not the newest block)");
            assert_eq!(std::slice::from_raw_parts(q, 10), b"0123456789");
            // The old block went to its list.
            assert_eq!(a.alloc(layout(32, 8)), p);
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
