// Runtimes: the list with status; for admins also create, each one's pool, and delete.

import { api, seg } from '../api.js';
import { h, heading, field, errorBox, busy, confirmDialog, table, when, button, replace, statusBadge } from '../dom.js';

export async function render(main, ctx) {
  const errors = h('div');
  const list = h('div');
  main.append(heading('Runtimes'), errors, list);
  if (ctx.isAdmin) main.insertBefore(createForm(errors, () => refresh()), list);

  const refresh = async () => {
    try {
      const runtimes = (await api.get('/v1/runtimes')).runtimes;
      const pools = ctx.isAdmin
        ? await Promise.all(runtimes.map((r) => api.get(`/v1/runtimes/${seg(r.id)}/pool`).catch(() => null)))
        : [];
      replace(list, table(['Name', 'Image', 'Status', 'Public', 'Pool', 'Created', ''], runtimes.map((r, i) => {
        const pool = pools[i];
        const del = ctx.isAdmin ? button('Delete', async () => {
          if (!(await confirmDialog(`Delete runtime “${r.name || r.id}”?`))) return;
          await busy(del, errors, async () => { await api.del(`/v1/runtimes/${seg(r.id)}`); await refresh(); });
        }, 'small danger') : null;
        return h('tr', {}, h('td', { text: r.name || r.id }), h('td', {}, h('code', { text: r.image })), h('td', {}, statusBadge(r.status)),
          h('td', { text: r.is_public ? 'yes' : 'no' }),
          h('td', { text: pool ? `${pool.capacity.available} free of ${pool.capacity.total}` : '—' }),
          h('td', { text: when(r.created_at) }), h('td', {}, del));
      }), 'Runtimes'));
    } catch (err) {
      errors.replaceChildren(errorBox(err));
    }
  };
  await refresh();
}

function createForm(errors, refresh) {
  const image = h('input', { name: 'image', required: true, placeholder: 'python3, nodejs, wasm, or a kind the operator declared' });
  const name = h('input', { name: 'name', maxlength: 255 });
  const isPublic = h('input', { type: 'checkbox', name: 'is_public', checked: true });
  const imageField = field('Image (kind)', image);
  const submit = h('button', { type: 'submit', class: 'primary', text: 'Create runtime' });
  const form = h('form', { class: 'card' }, h('h2', { text: 'New runtime' }), h('div', { class: 'grid' }, imageField, field('Name', name)),
    h('div', { class: 'field' }, h('label', { class: 'choice' }, isPublic, ' Public (every project may use it)')), submit);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    imageField.setError(image.value.trim() ? '' : 'Give the image, e.g. python3.');
    if (!image.value.trim()) return;
    busy(submit, errors, async () => {
      try {
        await api.post('/v1/runtimes', { image: image.value.trim(), name: name.value.trim() || undefined, is_public: isPublic.checked });
      } catch (err) {
        imageField.setError(err.message);
        throw err;
      }
      form.reset();
      await refresh();
      setTimeout(refresh, 1500);
    });
  });
  return form;
}
