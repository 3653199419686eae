// Run a function: input as JSON (checked before sending) or plain text, sync or async; the
// result, status, duration and log together; rerun with the same input.

import { api, seg } from '../api.js';
import { h, heading, field, errorBox, busy, announce, nextId } from '../dom.js';
import { executionView, follow } from '../execution-view.js';

export async function render(main, ctx, id) {
  let f;
  try {
    f = await api.get(`/v1/functions/${seg(id)}`);
  } catch (err) {
    main.append(heading('Run'), errorBox(err));
    return undefined;
  }
  const input = h('textarea', { name: 'input', rows: 6, spellcheck: 'false', class: 'code', placeholder: '{"name": "Ridge"}' });
  const inputField = field('Input', input, 'Empty for none. As JSON, an object becomes the keyword arguments of main.');
  const group = nextId('kind');
  const kind = (value, label, checked) => h('label', { class: 'choice' }, h('input', { type: 'radio', name: group, value, checked }), ` ${label}`);
  const sync = h('input', { type: 'checkbox', name: 'sync', checked: true });
  const version = h('input', { type: 'number', name: 'version', min: 0, max: f.latest_version, step: 1, value: '0', class: 'narrow-input' });
  const run = h('button', { type: 'submit', class: 'primary', text: 'Run' });
  const rerun = h('button', { type: 'button', text: 'Run again', hidden: true });
  const errors = h('div');
  const view = executionView();
  view.el.hidden = true;
  let stop = () => {};
  let last = null;

  const send = (body) => busy(run, errors, async () => {
    stop();
    announce('Running…');
    const e = await api.post('/v1/executions', body);
    last = body;
    rerun.hidden = false;
    view.el.hidden = false;
    await view.update(e);
    if (e.status === 'running') {
      stop = follow(e.id, async (done, err) => {
        if (err) errors.replaceChildren(errorBox(err));
        else { await view.update(done); announce(`Execution ${done.status}`); }
      });
    } else {
      announce(`Execution ${e.status}`);
    }
  });

  const form = h('form', { class: 'card' }, errors,
    h('fieldset', {}, h('legend', { text: 'Input is' }), h('div', { class: 'choices' }, kind('json', 'JSON', true), kind('text', 'plain text', false))),
    inputField,
    h('div', { class: 'grid' },
      field('Version', version, f.latest_version ? `0 (latest code) to ${f.latest_version}` : 'Only version 0 (the latest code).'),
      h('div', { class: 'field' }, h('label', { class: 'choice' }, sync, ' Wait for the result (sync)'))),
    h('div', { class: 'actions' }, run, rerun));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const raw = input.value;
    const mode = form.querySelector(`input[name="${group}"]:checked`).value;
    inputField.setError('');
    if (mode === 'json' && raw.trim()) {
      try {
        JSON.parse(raw);
      } catch (err) {
        inputField.setError(`Not valid JSON: ${err.message}. Fix it, or choose plain text.`);
        input.focus();
        return;
      }
    }
    const body = { function_id: f.id, sync: sync.checked };
    if (Number(version.value) > 0) body.function_version = Number(version.value);
    if (raw.trim()) body.input = raw;
    send(body);
  });
  rerun.addEventListener('click', () => { if (last) send(last); });
  main.append(heading(`Run ${f.name || f.id}`, h('a', { class: 'button', href: `#/functions/${seg(f.id)}`, text: 'Function' })), form, view.el);
  input.focus();
  return () => stop();
}
