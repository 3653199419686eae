// The sign-in form of the `token` and `keystone` auth modes: a token, checked against the
// server before it is kept (for this tab only).

import { api } from './api.js';
import { h, field, errorBox } from './dom.js';
import { setToken, clearToken } from './session.js';

export function signIn(main, message, signedIn) {
  const input = h('input', { type: 'password', name: 'token', autocomplete: 'off', required: true, spellcheck: 'false' });
  const tokenField = field('API token', input,
    'A Ridge token (ridge token create, or the bootstrap token printed at first start) or a Keystone token (openstack token issue). It is kept in this tab only.');
  const errors = h('div');
  if (message) errors.append(errorBox(new Error(message)));
  const submit = h('button', { type: 'submit', class: 'primary', text: 'Sign in' });
  const form = h('form', { class: 'card narrow', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title', text: 'Sign in to Ridge', tabindex: '-1' }), errors, tokenField, submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const value = input.value.trim();
    tokenField.setError(value ? '' : 'Enter a token.');
    if (!value) return;
    submit.disabled = true;
    errors.replaceChildren();
    setToken(value);
    try {
      await api.get('/v1/whoami');
      input.value = '';
      await signedIn();
    } catch (err) {
      clearToken();
      tokenField.setError(err.message);
      input.focus();
    } finally {
      submit.disabled = false;
    }
  });
  main.replaceChildren(form);
  input.focus();
}
