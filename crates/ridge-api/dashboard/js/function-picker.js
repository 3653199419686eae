// A <select> of the caller's functions (for webhooks and jobs), with a version number input.

import { api } from './api.js';
import { h, field } from './dom.js';

export async function functionPicker() {
  const select = h('select', { name: 'function_id', required: true });
  const functions = (await api.get('/v1/functions')).functions;
  for (const f of functions) select.append(h('option', { value: f.id, text: f.name || f.id }));
  const version = h('input', { type: 'number', name: 'function_version', min: 0, step: 1, value: '0', class: 'narrow-input' });
  const names = new Map(functions.map((f) => [f.id, f.name || f.id]));
  return {
    select,
    version,
    names,
    fields: [field('Function', select, functions.length ? null : 'Create a function first.'), field('Version', version, '0: the latest code.')],
  };
}
