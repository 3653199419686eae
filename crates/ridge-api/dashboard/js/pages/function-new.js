// A new function: from an uploaded zip or single source file, or from code typed here.

import { api, seg } from '../api.js';
import { h, heading, field, errorBox, busy, announce, button, reload } from '../dom.js';
import { packageFields, packageBlob, limitsFields, limitsForm } from './function-form.js';

export async function render(main, ctx) {
  const errors = h('div');
  let runtimes = [];
  try {
    runtimes = (await api.get('/v1/runtimes')).runtimes.filter((r) => r.status === 'available');
  } catch (err) {
    errors.append(errorBox(err));
  }
  const name = h('input', { name: 'name', required: true, maxlength: 255 });
  const runtime = h('select', { name: 'runtime' }, runtimes.map((r) => h('option', { value: r.id, text: `${r.name || r.image} (${r.image})` })));
  const fields = {
    name: field('Name', name),
    runtime: field('Runtime', runtime, runtimes.length ? null : 'No runtime is available: an admin creates one on the Runtimes page.'),
  };
  const pkg = packageFields(() => runtimes.find((r) => r.id === runtime.value));
  const limits = limitsFields({});
  const submit = h('button', { type: 'submit', class: 'primary', text: 'Create function' });
  const form = h('form', { class: 'card' }, errors, fields.name, fields.runtime, pkg.el, limits.el, submit);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(submit, errors, async () => {
      fields.name.setError(name.value.trim() ? '' : 'Give the function a name.');
      if (!name.value.trim()) { name.focus(); return; }
      const blob = await packageBlob(pkg);
      if (!blob) return;
      const data = limitsForm(limits);
      data.set('name', name.value.trim());
      data.set('runtime_id', runtime.value);
      data.set('entry', pkg.entry.value.trim());
      data.set('code', JSON.stringify({ source: 'package' }));
      data.set('package', blob, 'package.zip');
      announce('Uploading…');
      const created = await api.post('/v1/functions', data);
      announce('Function created');
      location.hash = `#/functions/${seg(created.id)}`;
    });
  });
  main.append(heading('New function'), form);
  if (!runtimes.length && ctx.isAdmin) form.prepend(quickRuntime(errors));
  name.focus();
}

// With no runtime yet, an admin creates Python's in one click (what `ridge runtime create
// python3` does), and the form reloads once it is available.
function quickRuntime(errors) {
  const create = button('Create the python3 runtime', () => busy(create, errors, async () => {
    let rt = await api.post('/v1/runtimes', { image: 'python3', name: 'python3' });
    for (let i = 0; i < 50 && rt.status === 'creating'; i += 1) {
      await new Promise((r) => { setTimeout(r, 200); });
      rt = await api.get(`/v1/runtimes/${seg(rt.id)}`);
    }
    if (rt.status !== 'available') throw new Error(`the runtime is ${rt.status}: see the Runtimes page`);
    reload();
  }), 'primary');
  return h('div', { class: 'alert warn' }, h('p', { text: 'There is no runtime to run functions on yet.' }), create);
}
