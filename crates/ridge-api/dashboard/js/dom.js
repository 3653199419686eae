// Building the page without innerHTML: every text from the server goes in as text, never markup.

let uid = 0;
export const nextId = (prefix) => `${prefix}-${++uid}`;

// h('button', { class: 'primary', onclick: f, type: 'button' }, 'Run')
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked' || k === 'disabled' || k === 'hidden' || k === 'selected') el[k] = Boolean(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// A labelled control with a place for its error; `control` gets an id if it has none.
export function field(label, control, hint) {
  if (!control.id) control.id = nextId('f');
  const error = h('p', { class: 'field-error', id: `${control.id}-error`, 'aria-live': 'polite' });
  const described = [error.id];
  let hintEl = null;
  if (hint) {
    hintEl = h('p', { class: 'hint', id: `${control.id}-hint`, text: hint });
    described.push(hintEl.id);
  }
  control.setAttribute('aria-describedby', described.join(' '));
  const wrap = h('div', { class: 'field' }, h('label', { for: control.id, text: label }), control, hintEl, error);
  wrap.setError = (message) => {
    error.textContent = message || '';
    if (message) control.setAttribute('aria-invalid', 'true');
    else control.removeAttribute('aria-invalid');
  };
  return wrap;
}

// An error box for what the API refused: its faultstring, announced to screen readers.
export function errorBox(err) {
  return h('div', { class: 'alert', role: 'alert' }, h('strong', { text: 'Error: ' }), err.message || String(err));
}

export function announce(message) {
  const status = document.getElementById('status');
  if (status) status.textContent = message;
}

export function heading(text, ...actions) {
  return h('div', { class: 'page-head' }, h('h1', { text, tabindex: '-1' }), h('div', { class: 'actions' }, actions));
}

export function button(text, onclick, cls = '') {
  return h('button', { type: 'button', class: cls, onclick }, text);
}

// Runs `work` with `btn` disabled and marked busy, showing errors in `where`.
export async function busy(btn, where, work) {
  btn.disabled = true;
  btn.setAttribute('aria-busy', 'true');
  if (where) where.replaceChildren();
  try {
    return await work();
  } catch (err) {
    if (where) where.replaceChildren(errorBox(err));
    else throw err;
    return undefined;
  } finally {
    btn.disabled = false;
    btn.removeAttribute('aria-busy');
  }
}

// A modal confirmation; resolves true when confirmed. Focus returns where it was.
export function confirmDialog(message, confirmText = 'Delete') {
  return new Promise((resolve) => {
    const before = document.activeElement;
    const dialog = h('dialog', { class: 'confirm', 'aria-label': 'Confirm' });
    const done = (answer) => {
      dialog.close();
      dialog.remove();
      if (before && before.focus) before.focus();
      resolve(answer);
    };
    const cancel = button('Cancel', () => done(false));
    const ok = button(confirmText, () => done(true), 'danger');
    dialog.append(h('p', { text: message }), h('div', { class: 'actions' }, cancel, ok));
    dialog.addEventListener('cancel', (e) => { e.preventDefault(); done(false); });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}

export function copyButton(getText, label = 'Copy') {
  const btn = button(label, async () => {
    const text = getText();
    try {
      await navigator.clipboard.writeText(text);
      announce('Copied');
      btn.textContent = 'Copied';
    } catch {
      announce('Copy failed: select the text and copy it');
    }
  }, 'small');
  return btn;
}

export function table(columns, rows, caption) {
  return h('div', { class: 'table-wrap' },
    h('table', {},
      caption ? h('caption', { class: 'visually-hidden', text: caption }) : null,
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', text: c })))),
      h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: columns.length, class: 'muted', text: 'Nothing yet.' })))));
}

export const when = (t) => (t ? t.replace('T', ' ').replace('Z', ' UTC') : '—');

export function seconds(s) {
  if (s === null || s === undefined) return '—';
  return s < 1 ? `${Math.round(s * 1000)} ms` : `${s.toFixed(2)} s`;
}

export function bytes(n) {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${Math.round(n * 10) / 10} ${units[i]}`;
}

export function statusBadge(status) {
  return h('span', { class: `badge ${status}`, text: status });
}

// Shows the current page again, with fresh data from the server.
export const reload = () => window.dispatchEvent(new HashChangeEvent('hashchange'));
