// Overview: executions of the last hour by status, p50/p99 durations, cold starts, warm
// workers, queue depth (GET /v1/statistics, every 5 s, charted as it changes), the functions,
// and the sandbox protections this host enforces (GET /v1/info), with a warning if any is off.

import { api } from '../api.js';
import { h, heading, errorBox, seconds, replace } from '../dom.js';
import { barChart, lineChart } from '../charts.js';

const POLL_MS = 5000;
const HISTORY = 60;

export async function render(main, ctx) {
  const stats = h('section', { 'aria-labelledby': 'stats-title' }, h('h2', { id: 'stats-title', text: 'Last hour' }));
  const numbers = h('div', { class: 'cards' });
  const charts = h('div', { class: 'charts' });
  const sandbox = h('section', { 'aria-labelledby': 'sandbox-title' }, h('h2', { id: 'sandbox-title', text: 'Sandbox' }));
  const errors = h('div');
  stats.append(numbers, charts);
  main.append(heading('Overview'), errors, stats, sandbox);

  const history = { p50: [], p99: [], queue: [] };
  let timer = null;
  let stopped = false;

  const refresh = async () => {
    try {
      const [s, functions] = await Promise.all([api.get('/v1/statistics'), api.get('/v1/functions')]);
      errors.replaceChildren();
      for (const [k, v] of [['p50', s.duration_p50], ['p99', s.duration_p99], ['queue', s.queue_depth]]) {
        history[k].push(v);
        if (history[k].length > HISTORY) history[k].shift();
      }
      const e = s.executions;
      replace(numbers,
        card('Functions', functions.functions.length, h('a', { href: '#/functions', text: 'See all' })),
        card('Executions', e.running + e.success + e.failed + e.error, `${e.failed + e.error} not successful`),
        card('Duration p50', seconds(s.duration_p50), `p99 ${seconds(s.duration_p99)}`),
        card('Cold starts', s.cold_starts, `on node ${s.node}, since it started`),
        card('Warm workers', s.warm_workers, `on node ${s.node}`),
        card('Queue depth', s.queue_depth, 'waiting for a worker'));
      replace(charts,
        figure('Executions by status', barChart('Executions by status', [
          { label: 'success', value: e.success, cls: 'success' },
          { label: 'failed', value: e.failed, cls: 'failed' },
          { label: 'error', value: e.error, cls: 'error' },
          { label: 'running', value: e.running, cls: 'running' },
        ])),
        figure('Duration (s), p50 and p99, live', lineChart('Duration', [
          { name: 'p50', cls: 'p50', points: history.p50 },
          { name: 'p99', cls: 'p99', points: history.p99 },
        ], ' s')),
        figure('Queue depth, live', lineChart('Queue depth', [{ name: 'queued', cls: 'queue', points: history.queue }])));
    } catch (err) {
      errors.replaceChildren(errorBox(err));
    }
    if (!stopped) timer = setTimeout(refresh, POLL_MS);
  };

  try {
    const info = await api.get('/v1/info');
    const missing = info.sandbox.protections.filter((p) => !p.enforced && !p.turned_off);
    const turnedOff = info.sandbox.protections.filter((p) => p.turned_off);
    const warnings = [];
    if (turnedOff.length) warnings.push(h('p', { class: 'alert warn', role: 'alert', text: `The sandbox is off (sandbox.mode = "off"): workers are plain processes of the server, and ${turnedOff.length} protection(s) are turned off by the operator: ${turnedOff.map((p) => p.name).join(', ')}. Run only trusted functions.` }));
    if (missing.length) warnings.push(h('p', { class: 'alert warn', role: 'alert', text: `${missing.length} sandbox protection(s) are not enforced on this host: ${missing.map((p) => p.name).join(', ')}. Untrusted code is less contained.` }));
    sandbox.append(
      ...(warnings.length ? warnings : [h('p', { class: 'ok', text: 'Every sandbox protection is enforced on this host.' })]),
      h('ul', { class: 'protections' }, info.sandbox.protections.map((p) => h('li', { class: p.enforced ? 'on' : 'off' },
        h('span', { class: 'badge', text: p.enforced ? 'enforced' : (p.turned_off ? 'turned off' : 'missing') }), ' ', h('strong', { text: p.name }), ` ${p.detail}`))),
      h('p', { class: 'muted', text: `Ridge ${info.version} · auth ${info.auth} · store ${info.store} · cgroup ${info.sandbox.cgroup} · ${info.nodes.length || 1} node(s)` }));
  } catch (err) {
    sandbox.append(errorBox(err));
  }
  if (ctx.isAdmin) sandbox.append(h('p', { class: 'muted', text: 'Prometheus metrics: /metrics' }));
  await refresh();
  return () => { stopped = true; clearTimeout(timer); };
}

function card(title, value, note) {
  return h('div', { class: 'card stat' }, h('h3', { text: title }), h('p', { class: 'value', text: String(value) }), h('p', { class: 'muted' }, note));
}

function figure(caption, chart) {
  return h('figure', { class: 'card' }, chart, h('figcaption', { text: caption }));
}
