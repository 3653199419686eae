// A function's versions (create, list, delete) and the aliases that point at it (create, move,
// delete).

import { api, seg } from '../api.js';
import { h, field, errorBox, busy, confirmDialog, table, when, button, reload } from '../dom.js';

export async function versionsSection(f) {
  const errors = h('div');
  let versions = [];
  try {
    versions = (await api.get(`/v1/functions/${seg(f.id)}/versions`)).function_versions;
  } catch (err) {
    errors.append(errorBox(err));
  }
  const description = h('input', { name: 'version_description', maxlength: 255 });
  const create = h('button', { type: 'submit', text: 'Create version' });
  const form = h('form', { class: 'inline' }, field('Description of the new version', description), create);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(create, errors, async () => {
      await api.post(`/v1/functions/${seg(f.id)}/versions`, { description: description.value.trim() || undefined });
      reload();
    });
  });
  const rows = versions.map((v) => {
    const del = button('Delete', async () => {
      if (!(await confirmDialog(`Delete version ${v.version_number}?`))) return;
      await busy(del, errors, async () => {
        await api.del(`/v1/functions/${seg(f.id)}/versions/${seg(v.version_number)}`);
        reload();
      });
    }, 'small danger');
    return h('tr', {}, h('td', { text: String(v.version_number) }), h('td', { text: v.description || '—' }),
      h('td', { text: String(v.count) }), h('td', { text: when(v.created_at) }), h('td', {}, del));
  });
  return h('section', { class: 'section', 'aria-labelledby': 'versions-title' },
    h('h2', { id: 'versions-title', text: 'Versions' }),
    h('p', { class: 'muted', text: 'A version freezes the current code and settings; version 0 is always the latest code.' }),
    errors, table(['Version', 'Description', 'Runs', 'Created', ''], rows, 'Versions'), form);
}

export async function aliasesSection(f) {
  const errors = h('div');
  let aliases = [];
  try {
    aliases = (await api.get('/v1/aliases')).function_aliases.filter((a) => a.function_id === f.id);
  } catch (err) {
    errors.append(errorBox(err));
  }
  const versionInput = (value) => h('input', { type: 'number', min: 0, step: 1, value: String(value), class: 'narrow-input' });
  const rows = aliases.map((a) => {
    const version = versionInput(a.function_version);
    version.setAttribute('aria-label', `Version of alias ${a.name}`);
    const move = button('Move', () => busy(move, errors, async () => {
      await api.put(`/v1/aliases/${seg(a.name)}`, { function_id: f.id, function_version: Number(version.value) });
      reload();
    }), 'small');
    const del = button('Delete', async () => {
      if (!(await confirmDialog(`Delete alias “${a.name}”?`))) return;
      await busy(del, errors, async () => {
        await api.del(`/v1/aliases/${seg(a.name)}`);
        reload();
      });
    }, 'small danger');
    return h('tr', {}, h('td', { text: a.name }), h('td', {}, version, ' ', move), h('td', { text: a.description || '—' }), h('td', {}, del));
  });
  const name = h('input', { name: 'alias_name', required: true, maxlength: 255 });
  const version = versionInput(f.latest_version);
  const create = h('button', { type: 'submit', text: 'Create alias' });
  const nameField = field('Alias name', name);
  const form = h('form', { class: 'inline' }, nameField, field('Version', version), create);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    nameField.setError(name.value.trim() ? '' : 'Give the alias a name.');
    if (!name.value.trim()) return;
    busy(create, errors, async () => {
      await api.post('/v1/aliases', { name: name.value.trim(), function_id: f.id, function_version: Number(version.value) });
      reload();
    });
  });
  return h('section', { class: 'section', 'aria-labelledby': 'aliases-title' },
    h('h2', { id: 'aliases-title', text: 'Aliases' }), errors, table(['Alias', 'Version', 'Description', ''], rows, 'Aliases'), form);
}
