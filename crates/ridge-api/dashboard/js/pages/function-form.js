// The parts of the function forms that create and edit share: where the code comes from (an
// uploaded zip or file, or typed code) with its entry, and the limits.

import { h, field, nextId } from '../dom.js';
import { zip, isZip } from '../zip.js';

const SAMPLES = {
  python: 'def main(name="world", **kwargs):\n    print("called with", name)\n    return {"greeting": f"Hello, {name}"}\n',
  node: 'module.exports.main = async (context, input) => {\n  console.log("called with", input);\n  return { greeting: `Hello, ${(input && input.name) || "world"}` };\n};\n',
};

const language = (rt) => (rt && /node/i.test(rt.image) ? 'node' : 'python');

// required: whether a package must be given (create) or may be left out (edit).
export function packageFields(currentRuntime, required = true) {
  const group = nextId('src');
  const choices = [['upload', 'Upload a zip or a source file'], ['type', 'Type the code']];
  if (!required) choices.unshift(['keep', 'Keep the current code']);
  const radios = choices.map(([value, label], i) => {
    const input = h('input', { type: 'radio', name: group, value, checked: i === 0 });
    return h('label', { class: 'choice' }, input, ` ${label}`);
  });
  const file = h('input', { type: 'file', name: 'package', accept: '.zip,.py,.js,.mjs,.wasm' });
  const code = h('textarea', { name: 'code', rows: 10, spellcheck: 'false', class: 'code' });
  const entry = h('input', { name: 'entry', placeholder: 'module.function, e.g. function.main' });
  const fileField = field('Package', file, 'A zip of the function, or one .py or .js file (it is zipped here).');
  const codeField = field('Code', code, 'Saved as function.py (Python) or function.js (Node.js).');
  const entryField = field('Entry', entry, 'The module and function to call, e.g. function.main.');
  const fieldset = h('fieldset', {}, h('legend', { text: 'Code' }), h('div', { class: 'choices' }, radios), fileField, codeField, entryField);
  const mode = () => fieldset.querySelector(`input[name="${group}"]:checked`).value;
  const sync = () => {
    fileField.hidden = mode() !== 'upload';
    codeField.hidden = mode() !== 'type';
    if (mode() === 'type') {
      const lang = language(currentRuntime());
      if (!code.value || Object.values(SAMPLES).includes(code.value)) code.value = SAMPLES[lang];
      if (!entry.value) entry.value = 'function.main';
    }
  };
  fieldset.addEventListener('change', sync);
  file.addEventListener('change', () => {
    const f = file.files[0];
    if (f && !/\.zip$/i.test(f.name) && !entry.value) entry.value = `${f.name.replace(/\.[^.]+$/, '')}.main`;
  });
  sync();
  return { el: fieldset, mode, file, code, entry, fileField, codeField, entryField, currentRuntime, required };
}

// The zip to send (a Blob), null to keep the code, or undefined after showing what is missing.
export async function packageBlob(pkg) {
  for (const f of [pkg.fileField, pkg.codeField, pkg.entryField]) f.setError('');
  const m = pkg.mode();
  if (m === 'keep') return null;
  if (pkg.required && !pkg.entry.value.trim()) {
    pkg.entryField.setError('Give the entry, e.g. function.main.');
    pkg.entry.focus();
    return undefined;
  }
  if (m === 'upload') {
    const f = pkg.file.files[0];
    if (!f) {
      pkg.fileField.setError('Choose a file.');
      pkg.file.focus();
      return undefined;
    }
    const data = new Uint8Array(await f.arrayBuffer());
    return isZip(data) ? new Blob([data], { type: 'application/zip' }) : zip([{ name: f.name, data }]);
  }
  if (!pkg.code.value.trim()) {
    pkg.codeField.setError('Type some code.');
    pkg.code.focus();
    return undefined;
  }
  const name = language(pkg.currentRuntime()) === 'node' ? 'function.js' : 'function.py';
  return zip([{ name, data: new TextEncoder().encode(pkg.code.value) }]);
}

export function limitsFields(f) {
  const cpu = h('input', { type: 'number', name: 'cpu', min: 1, step: 1, value: f.cpu ?? '' });
  const memory = h('input', { type: 'number', name: 'memory_mib', min: 1, step: 1, value: f.memory_size ? f.memory_size / 1048576 : '' });
  const timeout = h('input', { type: 'number', name: 'timeout', min: 1, step: 1, value: f.timeout ?? '' });
  const network = h('select', { name: 'network' },
    h('option', { value: '', text: 'server default' }),
    h('option', { value: 'loopback', text: 'loopback only', selected: f.network === 'loopback' }),
    h('option', { value: 'outbound', text: 'outbound allowed', selected: f.network === 'outbound' }));
  const el = h('fieldset', {}, h('legend', { text: 'Limits' }), h('div', { class: 'grid' },
    field('CPU (millicores)', cpu, 'Empty: the server default.'),
    field('Memory (MiB)', memory),
    field('Timeout (seconds)', timeout),
    field('Network', network, 'Outbound only where the server allows it.')));
  return { el, cpu, memory, timeout, network };
}

// The limits as form fields; with `original` (the function being edited), only those changed.
export function limitsForm(l, original = {}) {
  const data = new FormData();
  const memory = l.memory.value ? String(Math.round(Number(l.memory.value) * 1048576)) : '';
  const values = [['cpu', l.cpu.value], ['memory_size', memory], ['timeout', l.timeout.value], ['network', l.network.value]];
  for (const [k, v] of values) {
    if (v && v !== String(original[k] ?? '')) data.set(k, v);
  }
  return data;
}
