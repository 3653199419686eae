// One function: its settings (edit, new code), versions, aliases, workers (admins), delete.

import { api, seg } from '../api.js';
import { h, heading, field, errorBox, busy, announce, confirmDialog, when, bytes, button, reload } from '../dom.js';
import { packageFields, packageBlob, limitsFields, limitsForm } from './function-form.js';
import { versionsSection, aliasesSection } from './function-versions.js';
import { workersSection } from './function-workers.js';

export async function render(main, ctx, id) {
  let f;
  let runtime;
  try {
    f = await api.get(`/v1/functions/${seg(id)}`);
    runtime = await api.get(`/v1/runtimes/${seg(f.runtime_id)}`).catch(() => null);
  } catch (err) {
    main.append(heading('Function'), errorBox(err));
    return;
  }
  const del = button('Delete', async () => {
    if (!(await confirmDialog(`Delete function “${f.name || f.id}”? Its executions go with it.`))) return;
    await busy(del, errors, async () => {
      await api.del(`/v1/functions/${seg(f.id)}`);
      announce('Function deleted');
      location.hash = '#/functions';
    });
  }, 'danger');
  const errors = h('div');
  const facts = h('dl', { class: 'facts' },
    ...fact('Id', f.id), ...fact('Runtime', runtime ? `${runtime.name || runtime.image} (${runtime.image})` : f.runtime_id),
    ...fact('Entry', f.entry), ...fact('CPU', `${f.cpu} millicores`), ...fact('Memory', bytes(f.memory_size)),
    ...fact('Timeout', `${f.timeout} s`), ...fact('Network', f.network || 'loopback'),
    ...fact('Runs', String(f.count)), ...fact('Created', when(f.created_at)), ...fact('Updated', when(f.updated_at)));
  main.append(
    heading(f.name || f.id, h('a', { class: 'button primary', href: `#/run/${seg(f.id)}`, text: 'Run' }),
      h('a', { class: 'button', href: `#/executions?function_id=${seg(f.id)}`, text: 'Executions' }), del),
    errors, facts, editForm(f, runtime),
    await versionsSection(f), await aliasesSection(f),
    ctx.isAdmin ? await workersSection(f) : null);
}

const fact = (k, v) => [h('dt', { text: k }), h('dd', { text: v ?? '—' })];

function editForm(f, runtime) {
  const name = h('input', { name: 'name', value: f.name || '', maxlength: 255 });
  const description = h('input', { name: 'description', value: f.description || '', maxlength: 255 });
  const pkg = packageFields(() => runtime, false);
  pkg.entry.value = f.entry || '';
  const limits = limitsFields(f);
  const errors = h('div');
  const save = h('button', { type: 'submit', class: 'primary', text: 'Save changes' });
  const form = h('form', { class: 'card' }, errors, h('div', { class: 'grid' }, field('Name', name), field('Description', description)),
    pkg.el, limits.el, save);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(save, errors, async () => {
      const blob = await packageBlob(pkg);
      if (blob === undefined) return;
      const data = limitsForm(limits, f);
      if (name.value.trim() !== (f.name || '')) data.set('name', name.value.trim());
      if (description.value.trim() !== (f.description || '')) data.set('description', description.value.trim());
      if (pkg.entry.value.trim() && pkg.entry.value.trim() !== f.entry) data.set('entry', pkg.entry.value.trim());
      if (blob) {
        data.set('code', JSON.stringify({ source: 'package' }));
        data.set('package', blob, 'package.zip');
      }
      if ([...data.keys()].length === 0) { announce('Nothing changed'); return; }
      await api.put(`/v1/functions/${seg(f.id)}`, data);
      announce('Saved');
      reload();
    });
  });
  return h('details', { class: 'section' }, h('summary', { text: 'Edit settings and code' }), form);
}
