#![allow(unsafe_code)] // a counting allocator, only in this diagnostic example
//! How much heap one automerge document takes once loaded, against its stored size.
//!
//! `cargo run --release -p sysops-core --example doc_memory -- FILE...` where each FILE
//! holds a document's stored chunks (a snapshot and incremental changes, concatenated,
//! as `sync_chunks` keeps them). Prints the stored bytes, the changes, and the heap held
//! after loading (counted by a wrapping allocator).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn main() {
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path).expect("a readable file");
        let before = LIVE.load(Ordering::Relaxed);
        let doc = automerge::Automerge::load(&bytes).expect("automerge chunks");
        let held = LIVE.load(Ordering::Relaxed) - before;
        let changes = doc.get_changes(&[]).len();
        println!(
            "{path}: stored {} bytes, {changes} changes, heap after load {} bytes ({:.0}x stored, {:.0} bytes per change)",
            bytes.len(),
            held,
            held as f64 / bytes.len() as f64,
            held as f64 / changes.max(1) as f64
        );
        drop(doc);
    }
}
