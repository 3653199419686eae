;; Counts its executions in a global and prints the count: always 1 when every execution gets
;; a fresh instance.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  ;; Two pages: the pool zeroes a slot's first page in place and decommits the rest
  ;; (`host.rs`, KEEP_RESIDENT), so the count is kept in each.
  (memory (export "memory") 2)
  (global $count (mut i32) (i32.const 0))
  (func (export "_start")
    (global.set $count (i32.add (global.get $count) (i32.const 1)))
    ;; Also count in memory, in the first page and in the second: a leaked memory would show.
    (i32.store (i32.const 100) (i32.add (i32.load (i32.const 100)) (i32.const 1)))
    (i32.store (i32.const 70000) (i32.add (i32.load (i32.const 70000)) (i32.const 1)))
    ;; The digit '0' + count + both memory counts - 2.
    (i32.store8 (i32.const 32)
      (i32.add (i32.const 46)
        (i32.add (global.get $count)
          (i32.add (i32.load (i32.const 100)) (i32.load (i32.const 70000))))))
    (i32.store (i32.const 0) (i32.const 32))
    (i32.store (i32.const 4) (i32.const 1))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
