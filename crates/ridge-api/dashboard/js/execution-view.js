// One execution shown whole: status, duration, output and log together. Shared by the run
// page and the execution page; `update` redraws it in place (async executions that finish).

import { api, seg } from './api.js';
import { h, statusBadge, seconds, when, replace, errorBox } from './dom.js';

// Qinling's `result` is a JSON-encoded string: {"duration": s, "output": value}.
export function parseResult(e) {
  if (!e.result) return { duration: null, output: null };
  try {
    const r = JSON.parse(e.result);
    return { duration: r.duration ?? null, output: r.output };
  } catch {
    return { duration: null, output: e.result };
  }
}

const show = (v) => (typeof v === 'string' ? v : JSON.stringify(v, null, 2));

export function executionView() {
  const el = h('section', { class: 'card execution', 'aria-live': 'polite', 'aria-labelledby': 'result-title' });
  const update = async (e) => {
    const { duration, output } = parseResult(e);
    const outputLabel = e.status === 'success' ? 'Result' : e.status === 'running' ? 'Result' : 'Message';
    let log = '';
    let logError = null;
    if (e.status !== 'running') {
      try {
        log = await api.text(`/v1/executions/${seg(e.id)}/log`);
      } catch (err) {
        logError = errorBox(err);
      }
    }
    replace(el,
      h('h2', { id: 'result-title' }, 'Execution ', statusBadge(e.status)),
      h('dl', { class: 'facts' },
        h('dt', { text: 'Id' }), h('dd', {}, h('a', { href: `#/executions/${seg(e.id)}`, text: e.id })),
        h('dt', { text: 'Duration' }), h('dd', { class: 'duration', text: seconds(duration) }),
        h('dt', { text: 'Input' }), h('dd', {}, h('code', { text: e.input ?? '(none)' })),
        h('dt', { text: 'Created' }), h('dd', { text: when(e.created_at) })),
      e.status === 'running'
        ? h('p', { class: 'progress', role: 'progressbar', 'aria-label': 'Running', text: 'Running…' })
        : h('div', {}, h('h3', { text: outputLabel }),
          h('pre', { class: `output ${e.status}`, tabindex: '0', 'aria-label': outputLabel, text: show(output) })),
      e.status === 'running' ? null : h('div', {}, h('h3', { text: 'Log' }), logError,
        h('pre', { class: 'log', tabindex: '0', 'aria-label': 'Log', text: log || '(empty)' })));
  };
  return { el, update };
}

// Polls an execution until it leaves `running` (every second, for at most `limit` polls),
// calling `onChange` with each new state; returns a function that stops it.
export function follow(id, onChange, limit = 600) {
  let stopped = false;
  let timer = null;
  let polls = 0;
  const tick = async () => {
    if (stopped) return;
    polls += 1;
    try {
      const e = await api.get(`/v1/executions/${seg(id)}`);
      if (e.status !== 'running') {
        await onChange(e);
        return;
      }
    } catch (err) {
      await onChange(null, err);
      return;
    }
    if (polls < limit) timer = setTimeout(tick, 1000);
  };
  timer = setTimeout(tick, 500);
  return () => { stopped = true; clearTimeout(timer); };
}
