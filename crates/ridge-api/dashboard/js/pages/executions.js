// Executions: the API's filters (function, status, description) and a time window. Pages of
// 100 come in the API's order (oldest first, `next` for more) and are shown newest first;
// running ones update in place until they finish.

import { api, seg } from '../api.js';
import { h, heading, field, errorBox, table, when, statusBadge, seconds, replace, button } from '../dom.js';
import { parseResult } from '../execution-view.js';

const PAGE = 100;
const WINDOWS = [['', 'any time'], ['3600', 'last hour'], ['86400', 'last day'], ['604800', 'last week']];

export async function render(main) {
  const fn = h('select', { name: 'function' }, h('option', { value: '', text: 'every function' }));
  const status = h('select', { name: 'status' }, ['', 'running', 'success', 'failed', 'error'].map((s) => h('option', { value: s, text: s || 'any status' })));
  const window_ = h('select', { name: 'window' }, WINDOWS.map(([v, t]) => h('option', { value: v, text: t })));
  const description = h('input', { type: 'search', name: 'description', placeholder: 'contains…' });
  const list = h('div');
  const errors = h('div');
  const more = button('Load the next page', () => load(true), 'small');
  more.hidden = true;
  main.append(heading('Executions'),
    h('form', { class: 'toolbar', role: 'search' }, field('Function', fn), field('Status', status), field('Created', window_), field('Description', description)),
    errors, list, more);
  const names = new Map();
  try {
    for (const f of (await api.get('/v1/functions')).functions) {
      names.set(f.id, f.name || f.id);
      fn.append(h('option', { value: f.id, text: f.name || f.id }));
    }
  } catch (err) {
    errors.append(errorBox(err));
  }
  const wanted = new URLSearchParams(location.hash.split('?')[1] || '').get('function_id');
  if (wanted) fn.value = wanted;

  let rows = [];
  let next = null;
  let timer = null;
  let stopped = false;

  const draw = () => {
    const since = window_.value ? Date.now() - Number(window_.value) * 1000 : 0;
    const shown = rows.filter((e) => Date.parse(e.created_at) >= since).sort((a, b) => b.created_at.localeCompare(a.created_at));
    replace(list, table(['Status', 'Function', 'Created', 'Duration', 'Description'], shown.map((e) => h('tr', {},
      h('td', {}, h('a', { href: `#/executions/${seg(e.id)}`, 'aria-label': `Execution ${e.id}, ${e.status}` }, statusBadge(e.status))),
      h('td', { text: names.get(e.function_id) || e.function_id }),
      h('td', { text: when(e.created_at) }),
      h('td', { text: seconds(parseResult(e).duration) }),
      h('td', { text: e.description || '' }))), 'Executions'));
    more.hidden = !next;
  };

  const load = async (append) => {
    try {
      const query = { limit: PAGE, function_id: fn.value, status: status.value, description: description.value.trim() ? `has:${description.value.trim()}` : '' };
      if (append && next) query.marker = new URL(next, location.href).searchParams.get('marker');
      const page = await api.get('/v1/executions', query);
      rows = append ? rows.concat(page.executions) : page.executions;
      next = page.next || null;
      errors.replaceChildren();
      draw();
    } catch (err) {
      errors.replaceChildren(errorBox(err));
    }
  };

  // Live: every 3 s, re-read the running executions shown (at most one page of them).
  const live = async () => {
    const running = rows.filter((e) => e.status === 'running').slice(0, PAGE);
    if (running.length) {
      const fresh = await Promise.all(running.map((e) => api.get(`/v1/executions/${seg(e.id)}`).catch(() => e)));
      const byId = new Map(fresh.map((e) => [e.id, e]));
      rows = rows.map((e) => byId.get(e.id) || e);
      draw();
    }
    if (!stopped) timer = setTimeout(live, 3000);
  };

  for (const control of [fn, status, window_]) control.addEventListener('change', () => load(false));
  let typing = null;
  description.addEventListener('input', () => { clearTimeout(typing); typing = setTimeout(() => load(false), 400); });
  await load(false);
  timer = setTimeout(live, 3000);
  return () => { stopped = true; clearTimeout(timer); clearTimeout(typing); };
}
