// Webhooks: create (with or without a secret), see the URL and a ready curl line, delete. A
// secret is shown once, in the answer that created it, with a copy button.

import { api, seg } from '../api.js';
import { h, heading, field, errorBox, busy, confirmDialog, table, when, button, copyButton, replace } from '../dom.js';
import { functionPicker } from '../function-picker.js';

export async function render(main) {
  const errors = h('div');
  const created = h('div', { 'aria-live': 'polite' });
  const list = h('div');
  main.append(heading('Webhooks'), errors, created, list);
  let picker;
  try {
    picker = await functionPicker();
  } catch (err) {
    errors.append(errorBox(err));
    return;
  }
  const description = h('input', { name: 'description', maxlength: 255 });
  const secret = h('input', { type: 'checkbox', name: 'secret' });
  const submit = h('button', { type: 'submit', class: 'primary', text: 'Create webhook' });
  const form = h('form', { class: 'card' }, h('h2', { text: 'New webhook' }), h('div', { class: 'grid' }, ...picker.fields, field('Description', description)),
    h('div', { class: 'field' }, h('label', { class: 'choice' }, secret, ' Require a signature (generate a secret, shown once)')), submit);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(submit, errors, async () => {
      const body = { function_id: picker.select.value, description: description.value.trim() || undefined, secret: secret.checked || undefined };
      if (Number(picker.version.value) > 0) body.function_version = Number(picker.version.value);
      const w = await api.post('/v1/webhooks', body);
      showCreated(created, w);
      await refresh();
    });
  });
  main.insertBefore(form, list);

  const refresh = async () => {
    try {
      const hooks = (await api.get('/v1/webhooks')).webhooks;
      replace(list, table(['URL', 'Function', 'Secret', 'Created', ''], hooks.map((w) => {
        const del = button('Delete', async () => {
          if (!(await confirmDialog('Delete this webhook? Its URL stops working.'))) return;
          await busy(del, errors, async () => { await api.del(`/v1/webhooks/${seg(w.id)}`); await refresh(); });
        }, 'small danger');
        return h('tr', {}, h('td', {}, h('code', { class: 'url', text: w.webhook_url }), ' ', copyButton(() => w.webhook_url, 'Copy URL')),
          h('td', { text: w.function_alias || picker.names.get(w.function_id) || w.function_id || '—' }),
          h('td', { text: w.has_secret ? 'yes' : 'no' }), h('td', { text: when(w.created_at) }), h('td', {}, del));
      }), 'Webhooks'));
    } catch (err) {
      errors.replaceChildren(errorBox(err));
    }
  };
  await refresh();
}

function curlLine(w) {
  const url = w.webhook_url;
  if (!w.secret) return `curl -X POST -H 'Content-Type: application/json' -d '{"name": "Ridge"}' '${url}'`;
  return [
    `body='{"name": "Ridge"}'; ts=$(date +%s)`,
    `sig=$(printf '%s.%s' "$ts" "$body" | openssl dgst -sha256 -hmac '${w.secret}' -r | cut -d' ' -f1)`,
    `curl -X POST -H 'Content-Type: application/json' -H "X-Ridge-Timestamp: $ts" -H "X-Ridge-Signature: v1=$sig" -d "$body" '${url}'`,
  ].join('\n');
}

function showCreated(where, w) {
  const curl = curlLine(w);
  replace(where, h('section', { class: 'card created', 'aria-labelledby': 'created-title' },
    h('h2', { id: 'created-title', text: 'Webhook created', tabindex: '-1' }),
    h('p', {}, 'URL: ', h('code', { class: 'url', id: 'webhook-url', text: w.webhook_url }), ' ', copyButton(() => w.webhook_url, 'Copy URL')),
    w.secret ? h('div', { class: 'alert warn' },
      h('p', {}, h('strong', { text: 'Secret (shown only now): ' }), h('code', { class: 'secret', text: w.secret }), ' ', copyButton(() => w.secret, 'Copy secret')),
      h('p', { text: 'Ridge keeps it sealed and never shows it again. Keep it where the caller can sign with it.' })) : null,
    h('p', { text: 'Call it:' }), h('pre', { class: 'log', text: curl }), copyButton(() => curl, 'Copy curl line')));
  where.querySelector('h2').focus();
}
