// Event triggers (docs/events.md): bind a RabbitMQ queue, or an exchange with binding keys and
// OpenStack event types, to a function; see each trigger's status and last error; pause,
// resume, delete. The broker password goes to the server once and is never shown back.

import { api, seg } from '../api.js';
import { h, heading, field, errorBox, busy, confirmDialog, table, when, button, statusBadge, replace } from '../dom.js';
import { functionPicker } from '../function-picker.js';

/// A comma- or space-separated list, as the API takes it (an array; absent when empty).
const list = (text) => {
  const items = text.split(/[\s,]+/).filter(Boolean);
  return items.length ? items : undefined;
};

export async function render(main) {
  const errors = h('div');
  const listed = h('div');
  main.append(heading('Event triggers'), errors, listed);
  let picker;
  try {
    picker = await functionPicker();
  } catch (err) {
    errors.append(errorBox(err));
    return undefined;
  }
  const url = h('input', { name: 'amqp_url', type: 'password', required: true, autocomplete: 'off', placeholder: 'amqp://user:password@rabbit:5672/%2f' });
  const queue = h('input', { name: 'queue', placeholder: 'orders' });
  const exchange = h('input', { name: 'exchange', placeholder: 'nova' });
  const keys = h('input', { name: 'binding_keys', placeholder: 'notifications.info' });
  const types = h('input', { name: 'event_types', placeholder: 'compute.instance.*.end' });
  const retries = h('input', { name: 'max_retries', type: 'number', min: 0, step: 1, class: 'narrow-input' });
  const dlx = h('input', { name: 'dead_letter_exchange', placeholder: '(none: drop after the retries)' });
  const fields = {
    amqp_url: field('Broker URL', url, 'amqp://; stored sealed, shown back with the password as ***.'),
    queue: field('Queue', queue, 'Consume this queue; or leave it empty and give an exchange.'),
    exchange: field('Exchange', exchange, 'Ridge declares a durable queue of its own bound to it.'),
    binding_keys: field('Binding keys', keys, 'Comma-separated; default # (everything).'),
    event_types: field('OpenStack event types', types, 'Comma-separated patterns; only matching notifications run.'),
    max_retries: field('Max retries', retries),
    dead_letter_exchange: field('Dead-letter exchange', dlx),
  };
  const submit = h('button', { type: 'submit', class: 'primary', text: 'Create trigger' });
  const form = h('form', { class: 'card' }, h('h2', { text: 'New event trigger' }),
    h('div', { class: 'grid' }, ...picker.fields, ...Object.values(fields)), submit);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    for (const f of Object.values(fields)) f.setError('');
    busy(submit, errors, async () => {
      const body = {
        function_id: picker.select.value,
        amqp_url: url.value.trim(),
        queue: queue.value.trim() || undefined,
        exchange: exchange.value.trim() || undefined,
        binding_keys: list(keys.value),
        event_types: list(types.value),
        max_retries: retries.value === '' ? undefined : Number(retries.value),
        dead_letter_exchange: dlx.value.trim() || undefined,
      };
      if (Number(picker.version.value) > 0) body.function_version = Number(picker.version.value);
      try {
        await api.post('/v1/event_triggers', body);
      } catch (err) {
        // Show the refusal next to the field it names, as well as above the form.
        const named = Object.keys(fields).find((name) => err.message && err.message.includes(name));
        if (named) fields[named].setError(err.message);
        throw err;
      }
      url.value = '';
      await refresh();
    });
  });
  main.insertBefore(form, listed);

  const refresh = async () => {
    try {
      const triggers = (await api.get('/v1/event_triggers')).event_triggers;
      replace(listed, table(['Source', 'Function', 'Status', 'Broker', 'Created', ''], triggers.map((t) => {
        const del = button('Delete', async () => {
          if (!(await confirmDialog('Delete this trigger? Its consumers stop; the queue stays on the broker.'))) return;
          await busy(del, errors, async () => { await api.del(`/v1/event_triggers/${seg(t.id)}`); await refresh(); });
        }, 'small danger');
        const toggle = t.status === 'paused'
          ? button('Resume', () => busy(toggle, errors, async () => { await api.post(`/v1/event_triggers/${seg(t.id)}/resume`, {}); await refresh(); }), 'small')
          : button('Pause', () => busy(toggle, errors, async () => { await api.post(`/v1/event_triggers/${seg(t.id)}/pause`, {}); await refresh(); }), 'small');
        const source = t.exchange ? `${t.exchange} (${t.binding_keys.join(', ') || '#'})` : t.queue;
        return h('tr', {},
          h('td', {}, h('code', { text: source }), t.event_types.length ? h('div', { class: 'muted', text: t.event_types.join(', ') }) : null),
          h('td', { text: t.function_alias || picker.names.get(t.function_id) || t.function_id || '—' }),
          h('td', {}, statusBadge(t.status), t.last_error ? h('div', { class: 'muted', text: t.last_error }) : null),
          h('td', {}, h('code', { text: t.amqp_url })),
          h('td', { text: when(t.created_at) }),
          h('td', {}, toggle, ' ', del));
      }), 'Event triggers'));
    } catch (err) {
      errors.replaceChildren(errorBox(err));
    }
  };
  await refresh();
  // Status follows the broker (active, reconnecting): look again while the page is open.
  const timer = setInterval(refresh, 5000);
  return () => clearInterval(timer);
}
