;; A WASI reactor: `_initialize` sets up state, `handle` (entry `main.handle`) prints it.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "\"not initialized\"")
  (data (i32.const 128) "\"ready\"")
  (global $ready (mut i32) (i32.const 0))
  (func (export "_initialize") (global.set $ready (i32.const 1)))
  (func (export "handle")
    (if (global.get $ready)
      (then
        (i32.store (i32.const 0) (i32.const 128))
        (i32.store (i32.const 4) (i32.const 7)))
      (else
        (i32.store (i32.const 0) (i32.const 64))
        (i32.store (i32.const 4) (i32.const 17))))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
