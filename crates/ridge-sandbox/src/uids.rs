//! The host uids workers run as when Ridge runs as root: one per live worker, from a range no
//! one else on the host uses.
//!
//! The kernel charges per-user limits (inotify instances and watches, user namespaces, message
//! queues, pending signals) to a uid, and for a process in a user namespace also to the
//! namespace's owner in the parent namespace, up to the host. A worker that owns its own user
//! namespace and runs as its own uid therefore spends its own host allowance: what it exhausts
//! fails neither host root (the owner of a namespace Ridge creates as root) nor another worker.
//!
//! [`UidPool`] hands out uids as [`UidLease`]s that give theirs back on drop. It hands out the
//! least recently used free uid (a cursor that moves on), so a uid is not reused while the
//! processes of the worker that had it may still be dying.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use crate::SandboxError;

/// A range of host uids, `first .. first + count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UidRange {
    pub first: u32,
    pub count: u32,
}

impl UidRange {
    /// 0x70000000 and 65536 uids after it: above systemd's container range
    /// (524288–1879048191) and below the uids some tools read as negative (2^31 and up).
    pub const DEFAULT: UidRange = UidRange {
        first: 0x7000_0000,
        count: 65536,
    };

    /// Why this range cannot hold workers: it contains root, or runs past the last valid uid.
    pub fn problem(&self) -> Option<String> {
        if self.count == 0 {
            return Some("the range holds no uid".to_owned());
        }
        if self.first == 0 {
            return Some("the range must not contain uid 0 (root)".to_owned());
        }
        // u32::MAX is `(uid_t) -1`, "no uid": the last uid of the range must stay below it.
        match self.first.checked_add(self.count) {
            Some(_) => None,
            None => Some(format!(
                "{} uids from {} run past the last uid {}",
                self.count,
                self.first,
                u32::MAX - 1
            )),
        }
    }
}

#[derive(Debug)]
struct Books {
    range: UidRange,
    in_use: BTreeSet<u32>,
    /// Offset in the range where the next search starts.
    cursor: u32,
}

/// The uids of the range that live workers hold.
#[derive(Debug, Clone)]
pub(crate) struct UidPool {
    books: Arc<Mutex<Books>>,
}

impl UidPool {
    pub(crate) fn new(range: UidRange) -> Self {
        Self {
            books: Arc::new(Mutex::new(Books {
                range,
                in_use: BTreeSet::new(),
                cursor: 0,
            })),
        }
    }

    /// The next free uid, least recently used first; an error when every uid of the range is
    /// held by a live worker.
    pub(crate) fn lease(&self) -> Result<UidLease, SandboxError> {
        let mut books = self.books.lock().unwrap_or_else(PoisonError::into_inner);
        let UidRange { first, count } = books.range;
        for step in 0..count {
            let offset = (books.cursor + step) % count;
            let uid = first + offset;
            if books.in_use.insert(uid) {
                books.cursor = (offset + 1) % count;
                return Ok(UidLease {
                    uid,
                    books: Arc::clone(&self.books),
                });
            }
        }
        Err(SandboxError::Refused(format!(
            "every one of the {count} worker uids from {first} (sandbox.uid, sandbox.uid_count) \
             is in use; raise sandbox.uid_count"
        )))
    }
}

/// One worker's uid, given back to the pool when dropped.
#[derive(Debug)]
pub(crate) struct UidLease {
    uid: u32,
    books: Arc<Mutex<Books>>,
}

impl UidLease {
    pub(crate) fn uid(&self) -> u32 {
        self.uid
    }
}

impl Drop for UidLease {
    fn drop(&mut self) {
        let mut books = self.books.lock().unwrap_or_else(PoisonError::into_inner);
        books.in_use.remove(&self.uid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_workers_never_share_a_uid_and_freed_ones_come_back_last() {
        let pool = UidPool::new(UidRange {
            first: 1000,
            count: 3,
        });
        let a = pool.lease().expect("a");
        let b = pool.lease().expect("b");
        assert_eq!((a.uid(), b.uid()), (1000, 1001));
        drop(a);
        // 1000 is free again, but 1002 has rested longer.
        let c = pool.lease().expect("c");
        assert_eq!(c.uid(), 1002);
        let d = pool.lease().expect("d");
        assert_eq!(d.uid(), 1000);
        let full = pool.lease().expect_err("all three are held");
        assert!(
            full.to_string().contains("raise sandbox.uid_count"),
            "{full}"
        );
        drop(b);
        assert_eq!(pool.lease().expect("freed").uid(), 1001);
    }

    #[test]
    fn ranges_that_hold_root_or_overflow_are_refused() {
        assert_eq!(UidRange::DEFAULT.problem(), None);
        let root = UidRange {
            first: 0,
            count: 10,
        };
        assert!(root.problem().is_some_and(|p| p.contains("uid 0")));
        let past = UidRange {
            first: u32::MAX - 5,
            count: 10,
        };
        assert!(past.problem().is_some_and(|p| p.contains("run past")));
        let empty = UidRange { first: 5, count: 0 };
        assert!(empty.problem().is_some());
    }
}
