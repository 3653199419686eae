// Ridge's Node.js worker: loads one function once, then runs its executions one at a time.
//
// ridge-runtime-process embeds this file and starts it as `node <heap flags> -e <this source> <name>`
// with a cleared environment, in the package directory, as the leader of its own process group
// (inside the server's sandbox, where the package is at /function and this worker is alone in
// its PID namespace). It implements the worker protocol of docs/runtime-protocol.md:
// length-prefixed frames (4-byte big-endian length, then UTF-8 JSON) on the descriptors named
// by RIDGE_FD_IN and RIDGE_FD_OUT. Its fd 0 reads /dev/null and fds 1 and 2 append to the
// capture file Ridge reads after each execution, so console.log, process.stdout.write and the
// output of child processes are all captured without this worker's help.
//
// A pre-started worker (RIDGE_PRESTARTED=1) is started before its function is known, in an
// empty directory over which its package is mounted later: it writes a `waiting` frame once
// past its start-up, and changes into `package_dir` when its init frame comes.
//
// Qinling's contract: entry `module.function` (default `main.main`); the function is called as
// `fn(context, input)`; its return value, or the value of a returned Promise, is the output.
// A thrown error (or a rejected Promise) fails the execution with its message; its stack goes
// to the log.
//
// Every reply echoes the `id` of the request it answers, and Ridge refuses any other frame: a
// function that writes to the protocol descriptors (which no binding it can reach names) can at
// most spoil its own execution.

'use strict';

const fs = require('fs');
const net = require('net');
const path = require('path');
const { pathToFileURL } = require('url');

const FD_IN = Number(process.env.RIDGE_FD_IN);
const FD_OUT = Number(process.env.RIDGE_FD_OUT);
// Started ahead of its function (a pre-started worker): it says `waiting` once past start-up.
const PRESTARTED = process.env.RIDGE_PRESTARTED === '1';
delete process.env.RIDGE_FD_IN;
delete process.env.RIDGE_FD_OUT;
delete process.env.RIDGE_PRESTARTED;

let maxFrame = 64 * 1024 * 1024;
let maxOutput = maxFrame;
let maxMessage = 64 * 1024;
let maxLog = 1024 * 1024;
let init = null;
let entry = null;
// The execution in flight: { id, settle(reply) }, or null between executions.
let current = null;

class ProtocolError extends Error {}

// `message` is an object, or a frame's JSON text already encoded.
function encode(message) {
  const text = typeof message === 'string' ? message : JSON.stringify(message);
  const body = Buffer.from(text, 'utf8');
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length, 0);
  return Buffer.concat([header, body]);
}

// Blocking writes: Ridge always reads, and a reply must be on the pipe before anything else
// runs (an exit right after a reply must not lose it).
function writeFrame(message) {
  let data = encode(message);
  while (data.length > 0) {
    let written;
    try {
      written = fs.writeSync(FD_OUT, data);
    } catch (e) {
      if (e.code === 'EAGAIN') continue;
      throw e;
    }
    data = data.subarray(written);
  }
}

// `text` within `limit` bytes of UTF-8, with a marker saying how much was over.
function cut(text, limit, what) {
  const size = Buffer.byteLength(text, 'utf8');
  if (size <= limit) return text;
  const marker = `[ridge: ${what} truncated, ${size - limit} bytes over the ${limit}-byte limit]`;
  const room = Math.max(limit - Buffer.byteLength(marker) - 2, 0);
  // A cut inside a character decodes to U+FFFD (3 bytes): stay below the room.
  const kept = Buffer.from(text, 'utf8').subarray(0, Math.max(room - 3, 0)).toString('utf8');
  return what === 'traceback' ? `${kept}\n${marker}\n` : `${kept} ${marker}`;
}

function fatal(text) {
  try {
    fs.writeSync(2, `ridge-worker: ${text}\n`);
    writeFrame({ type: 'fatal', id: current ? current.id : null, message: cut(text, maxMessage, 'message') });
  } catch (_) {
    // Ridge is gone: nothing left to tell.
  }
  process.exit(1);
}

function message(error) {
  let text;
  if (error instanceof Error) {
    text = error.message || error.name || 'Error';
  } else {
    try {
      text = String(error);
    } catch (_) {
      text = 'a value that cannot be shown was thrown';
    }
  }
  return cut(text, maxMessage, 'message');
}

// The stack without this worker's own frames (code passed with -e shows as `[eval]`).
function stack(error) {
  if (!(error instanceof Error) || typeof error.stack !== 'string') {
    return `Uncaught ${message(error)}\n`;
  }
  const lines = error.stack
    .split('\n')
    .filter((line) => !/\[eval\]|\[eval-wrapper\]|\(node:internal\/|^\s+at node:internal\//.test(line));
  return cut(`${lines.join('\n')}\n`, maxLog, 'traceback');
}

// A function that ran out of a resource, as Qinling words it.
const RESOURCE_MESSAGE = 'Function execution failed because of too much resource consumption';

async function load() {
  const file = path.join(init.package_dir, ...init.module.split('.'));
  let mod;
  try {
    mod = require(file);
  } catch (e) {
    if (e && e.code === 'ERR_REQUIRE_ESM') {
      mod = await import(pathToFileURL(require.resolve(file)).href);
    } else {
      throw e;
    }
  }
  let fn = mod == null ? undefined : mod[init.function];
  if (fn === undefined && mod != null && mod.default != null) {
    fn = mod.default[init.function];
  }
  if (typeof fn !== 'function') {
    throw new TypeError(`entry \`${init.entry}\` is not a function: module \`${init.module}\` exports no function \`${init.function}\``);
  }
  return fn;
}

// What killStrays() last saw: the PID namespace's last allocated pid and when (see
// watchPids()).
let lastPid = '';
let lastLook = 0n;
let wrapWindowNs = 0n;

// Learns how long the pids take at least to go round: `pid_max` allocations at ten million a
// second.
function watchPids() {
  try {
    wrapWindowNs = BigInt(Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'latin1'))) * 100n;
  } catch (_) {
    wrapWindowNs = 0n; // unknown: every execution kills
  }
}

// The PID namespace's last allocated pid, as text ('' if unreadable); opened each time, so that
// the function's process holds no descriptor more.
function readLastPid() {
  let fd = -1;
  try {
    fd = fs.openSync('/proc/sys/kernel/ns_last_pid', 'r');
    const buf = Buffer.alloc(32);
    return buf.toString('latin1', 0, fs.readSync(fd, buf, 0, 32, 0));
  } catch (_) {
    return '';
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
}

// Alone in its PID namespace: every other process is one the function started. `kill(-1)`
// walks every process on the host, so it is skipped when the namespace allocated no pid since
// the last look (read before the kill), too recently for the pids to have gone round
// (worker.py's _kill_strays() says more).
function killStrays() {
  if (!init.kill_strays) return;
  const now = process.hrtime.bigint();
  const last = readLastPid();
  const unchanged = last !== '' && last === lastPid && now - lastLook < wrapWindowNs;
  lastPid = last;
  lastLook = now;
  if (unchanged) return;
  try {
    process.kill(-1, 'SIGKILL');
  } catch (_) {
    // ESRCH: nobody else.
  }
}

// The encoded `returned` frame, or a `raised` one when the output cannot be sent.
function returned(id, output) {
  let body;
  try {
    body = JSON.stringify(output === undefined ? null : output);
  } catch (e) {
    return { type: 'raised', id, message: `function output is not JSON serializable: ${message(e)}`, traceback: '' };
  }
  if (body === undefined) body = 'null'; // a function or a symbol
  const size = Buffer.byteLength(body, 'utf8');
  if (size > maxOutput) {
    return {
      type: 'raised',
      id,
      message: `function output is too large: ${size} bytes of JSON, over the result limit of ${maxOutput} bytes`,
      traceback: '',
    };
  }
  return `{"type":"returned","id":${JSON.stringify(id)},"output":${body}}`;
}

function raised(id, error) {
  const text = message(error);
  const resource = error && (error.code === 'EAGAIN' || error.code === 'ENOMEM');
  return { type: 'raised', id, message: resource ? RESOURCE_MESSAGE : text, traceback: stack(error) };
}

function invoke(request) {
  const context = {
    execution_id: request.execution_id,
    function_id: init.function_id,
    function_version: init.function_version,
  };
  let input = null;
  if (request.input != null) {
    input = 'kwargs' in request.input ? request.input.kwargs : request.input.arg;
  }
  const id = request.id === undefined ? null : request.id;
  return new Promise((resolve) => {
    let settled = false;
    current = {
      id,
      settle(reply) {
        if (settled) return;
        settled = true;
        current = null;
        killStrays();
        resolve(reply);
      },
    };
    const settle = current.settle;
    try {
      Promise.resolve(entry(context, input)).then(
        (output) => settle(returned(id, output)),
        (error) => settle(raised(id, error)),
      );
    } catch (error) {
      settle(raised(id, error));
    }
  });
}

// An error nobody caught (a throw in a callback, a rejection nobody awaited) fails the
// execution in flight; between executions it only goes to the server's log.
function uncaught(error) {
  if (current) {
    current.settle(raised(current.id, error));
  } else {
    fs.writeSync(2, `ridge-worker: uncaught outside an execution: ${stack(error)}`);
  }
}
process.on('uncaughtException', uncaught);
process.on('unhandledRejection', uncaught);

async function serve(frames) {
  const first = await frames.next();
  if (first.done) process.exit(0);
  if (first.value.type !== 'init') throw new ProtocolError('expected an init frame');
  init = first.value;
  maxFrame = init.max_frame;
  maxOutput = init.max_output || maxFrame;
  maxMessage = init.max_message || maxMessage;
  maxLog = init.max_log || maxLog;
  const id = init.id === undefined ? null : init.id;
  // Again: a pre-started worker's package was mounted over its working directory after it
  // started, and the old directory is the empty one beneath.
  process.chdir(init.package_dir);
  if (init.kill_strays) watchPids();
  writeFrame({ type: 'loading', id });
  try {
    entry = await load();
  } catch (error) {
    writeFrame({ type: 'load_error', id, message: message(error), traceback: stack(error) });
    process.exit(0);
  }
  writeFrame({ type: 'ready', id, runtime: `node ${process.version}` });
  for (;;) {
    const next = await frames.next();
    if (next.done) process.exit(0);
    if (next.value.type !== 'invoke') {
      throw new ProtocolError(`unexpected frame type ${JSON.stringify(next.value.type)}`);
    }
    writeFrame(await invoke(next.value));
  }
}

// Frames from Ridge, in order, as an async iterator.
async function* readFrames(stream) {
  let buffered = Buffer.alloc(0);
  for await (const chunk of stream) {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    while (buffered.length >= 4) {
      const size = buffered.readUInt32BE(0);
      if (size > maxFrame) {
        throw new ProtocolError(`frame of ${size} bytes exceeds the limit of ${maxFrame}`);
      }
      if (buffered.length < 4 + size) break;
      const frame = JSON.parse(buffered.subarray(4, 4 + size).toString('utf8'));
      buffered = buffered.subarray(4 + size);
      if (frame === null || typeof frame !== 'object' || Array.isArray(frame)) {
        throw new ProtocolError('frame is not a JSON object');
      }
      yield frame;
    }
  }
  if (buffered.length > 0) throw new ProtocolError('pipe closed in the middle of a frame');
}

if (!Number.isInteger(FD_IN) || !Number.isInteger(FD_OUT)) {
  fs.writeSync(2, 'ridge-worker: RIDGE_FD_IN and RIDGE_FD_OUT must name the protocol descriptors\n');
  process.exit(1);
}
const input = new net.Socket({ fd: FD_IN, readable: true, writable: false });
if (PRESTARTED) writeFrame({ type: 'waiting' });
serve(readFrames(input)).catch((error) => {
  fatal(error instanceof ProtocolError ? `protocol error: ${error.message}` : `worker failed: ${stack(error)}`);
});
