// A function's warm workers, for admins: list, scale up or down, detach (release them all).

import { api, seg } from '../api.js';
import { h, errorBox, busy, confirmDialog, table, button, reload } from '../dom.js';

export async function workersSection(f) {
  const errors = h('div');
  let workers = [];
  try {
    workers = (await api.get(`/v1/functions/${seg(f.id)}/workers`)).workers;
  } catch (err) {
    errors.append(errorBox(err));
  }
  const scale = (direction) => {
    const btn = button(direction === 'up' ? 'Add a worker' : 'Remove a worker', () => busy(btn, errors, async () => {
      // Each path written out whole: tests/it/dashboard.rs checks every one against the router.
      if (direction === 'up') await api.post(`/v1/functions/${seg(f.id)}/scale_up`, { count: 1 });
      else await api.post(`/v1/functions/${seg(f.id)}/scale_down`, { count: 1 });
      reload();
    }), 'small');
    return btn;
  };
  const detach = button('Detach all', async () => {
    if (!(await confirmDialog('Release every worker of this function? The next execution starts a new one.', 'Detach'))) return;
    await busy(detach, errors, async () => {
      await api.post(`/v1/functions/${seg(f.id)}/detach`, {});
      reload();
    });
  }, 'small danger');
  const rows = workers.map((w) => h('tr', {}, h('td', { text: w.worker_name }), h('td', { text: String(w.function_version) }), h('td', { text: w.node || '—' })));
  return h('section', { class: 'section', 'aria-labelledby': 'workers-title' },
    h('h2', { id: 'workers-title', text: 'Workers' }), errors,
    table(['Worker', 'Version', 'Node'], rows, 'Workers'),
    h('div', { class: 'actions' }, scale('up'), scale('down'), detach));
}
