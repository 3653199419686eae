// Jobs: create with a cron pattern, seeing the next five run times (asked from the server,
// which validates exactly as it will on save) before saving; pause, resume, delete.

import { api, seg } from '../api.js';
import { h, heading, field, errorBox, busy, confirmDialog, table, when, button, replace, statusBadge } from '../dom.js';
import { functionPicker } from '../function-picker.js';

export async function render(main) {
  const errors = h('div');
  const list = h('div');
  main.append(heading('Jobs'), errors, list);
  let picker;
  try {
    picker = await functionPicker();
  } catch (err) {
    errors.append(errorBox(err));
    return undefined;
  }
  const name = h('input', { name: 'name', maxlength: 255 });
  const pattern = h('input', { name: 'pattern', placeholder: '*/5 * * * *', spellcheck: 'false', maxlength: 32 });
  const first = h('input', { type: 'datetime-local', name: 'first_execution_time' });
  const count = h('input', { type: 'number', name: 'count', min: 1, step: 1 });
  const input = h('input', { name: 'function_input', maxlength: 255, placeholder: '{"name": "cron"}' });
  const patternField = field('Cron pattern', pattern, 'minute hour day month weekday (UTC); empty for a one-shot job at the first time.');
  const firstField = field('First run (UTC)', first);
  const preview = h('div', { class: 'preview', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'primary', text: 'Create job' });
  const form = h('form', { class: 'card' }, h('h2', { text: 'New job' }),
    h('div', { class: 'grid' }, field('Name', name), ...picker.fields, patternField, firstField,
      field('Runs', count, 'Empty: no limit.'), field('Input', input)),
    h('h3', { text: 'Next runs' }), preview, submit);
  main.insertBefore(form, list);

  const firstValue = () => (first.value ? `${first.value.length === 16 ? `${first.value}:00` : first.value}` : '');
  let asked = 0;
  const showPreview = async () => {
    const mine = ++asked;
    patternField.setError('');
    if (!pattern.value.trim() && !first.value) {
      replace(preview, h('p', { class: 'muted', text: 'Give a pattern or a first time.' }));
      return;
    }
    try {
      const r = await api.get('/v1/jobs/schedule', { pattern: pattern.value.trim(), first_execution_time: firstValue(), count: count.value });
      if (mine !== asked) return;
      replace(preview, h('ol', { class: 'runs' }, r.next_execution_times.map((t) => h('li', { text: when(t) }))));
    } catch (err) {
      if (mine !== asked) return;
      replace(preview);
      patternField.setError(err.message);
    }
  };
  let typing = null;
  for (const c of [pattern, first, count]) c.addEventListener('input', () => { clearTimeout(typing); typing = setTimeout(showPreview, 300); });
  showPreview();

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(submit, errors, async () => {
      const body = {
        name: name.value.trim() || undefined,
        function_id: picker.select.value,
        pattern: pattern.value.trim() || undefined,
        first_execution_time: firstValue() || undefined,
        count: count.value ? Number(count.value) : undefined,
        function_input: input.value || undefined,
      };
      if (Number(picker.version.value) > 0) body.function_version = Number(picker.version.value);
      await api.post('/v1/jobs', body);
      form.reset();
      showPreview();
      await refresh();
    });
  });

  const refresh = async () => {
    try {
      const jobs = (await api.get('/v1/jobs')).jobs;
      replace(list, table(['Name', 'Function', 'Pattern', 'Status', 'Next run', 'Runs left', ''], jobs.map((j) => {
        const toggle = j.status === 'running' || j.status === 'paused'
          ? button(j.status === 'running' ? 'Pause' : 'Resume', () => busy(toggle, errors, async () => {
            await api.put(`/v1/jobs/${seg(j.id)}`, { status: j.status === 'running' ? 'paused' : 'running' });
            await refresh();
          }), 'small')
          : null;
        const del = button('Delete', async () => {
          if (!(await confirmDialog(`Delete job “${j.name || j.id}”?`))) return;
          await busy(del, errors, async () => { await api.del(`/v1/jobs/${seg(j.id)}`); await refresh(); });
        }, 'small danger');
        return h('tr', {}, h('td', { text: j.name || j.id }),
          h('td', { text: j.function_alias || picker.names.get(j.function_id) || j.function_id || '—' }),
          h('td', {}, h('code', { text: j.pattern || 'once' })), h('td', {}, statusBadge(j.status)),
          h('td', { text: when(j.next_execution_time) }), h('td', { text: j.count ?? '∞' }), h('td', {}, toggle, ' ', del));
      }), 'Jobs'));
    } catch (err) {
      errors.replaceChildren(errorBox(err));
    }
  };
  await refresh();
  return () => clearTimeout(typing);
}
