;; Counts its executions in a global and prints the count: always 1 when every execution gets
;; a fresh instance.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $count (mut i32) (i32.const 0))
  (func (export "_start")
    (global.set $count (i32.add (global.get $count) (i32.const 1)))
    ;; Also count in memory: a leaked memory would show too.
    (i32.store (i32.const 100) (i32.add (i32.load (i32.const 100)) (i32.const 1)))
    ;; The digit '0' + count + memory count - 1.
    (i32.store8 (i32.const 32)
      (i32.add (i32.const 47)
        (i32.add (global.get $count) (i32.load (i32.const 100)))))
    (i32.store (i32.const 0) (i32.const 32))
    (i32.store (i32.const 4) (i32.const 1))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
