// Functions: the list, searched by name, id or description, twenty to a page.

import { api, seg } from '../api.js';
import { h, heading, errorBox, table, when, replace, field, button } from '../dom.js';

const PAGE = 20;

export async function render(main) {
  const search = h('input', { type: 'search', name: 'search', placeholder: 'name, id or description' });
  const list = h('div');
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' });
  main.append(
    heading('Functions', h('a', { class: 'button primary', href: '#/functions/new', text: 'New function' })),
    h('div', { class: 'toolbar' }, field('Search', search)), list, pager);
  let functions;
  let runtimes = new Map();
  try {
    const [f, r] = await Promise.all([api.get('/v1/functions'), api.get('/v1/runtimes')]);
    functions = f.functions.reverse();
    runtimes = new Map(r.runtimes.map((rt) => [rt.id, rt.name || rt.image]));
  } catch (err) {
    list.append(errorBox(err));
    return;
  }
  let page = 0;
  const draw = () => {
    const q = search.value.trim().toLowerCase();
    const shown = functions.filter((f) => !q || [f.name, f.id, f.description].some((v) => v && v.toLowerCase().includes(q)));
    const pages = Math.max(1, Math.ceil(shown.length / PAGE));
    page = Math.min(page, pages - 1);
    const rows = shown.slice(page * PAGE, page * PAGE + PAGE).map((f) => h('tr', {},
      h('td', {}, h('a', { href: `#/functions/${seg(f.id)}`, text: f.name || f.id })),
      h('td', { text: runtimes.get(f.runtime_id) || f.runtime_id || '—' }),
      h('td', { text: f.entry || '—' }),
      h('td', { text: String(f.count) }),
      h('td', { text: when(f.created_at) }),
      h('td', {}, h('a', { class: 'button small', href: `#/run/${seg(f.id)}`, text: 'Run', 'aria-label': `Run ${f.name || f.id}` }))));
    replace(list, table(['Name', 'Runtime', 'Entry', 'Runs', 'Created', ''], rows, 'Functions'));
    const prev = button('Previous', () => { page -= 1; draw(); }, 'small');
    const next = button('Next', () => { page += 1; draw(); }, 'small');
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
    replace(pager, prev, h('span', { text: ` Page ${page + 1} of ${pages} (${shown.length} functions) ` }), next);
  };
  search.addEventListener('input', () => { page = 0; draw(); });
  draw();
}
