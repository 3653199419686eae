// Admins in `token` mode: projects, users, tokens (a new token is shown once) and quotas.

import { api, seg } from '../api.js';
import { h, heading, field, errorBox, busy, confirmDialog, table, when, button, replace, copyButton, bytes } from '../dom.js';

const QUOTAS = ['functions', 'package_bytes', 'concurrent_executions', 'executions_per_second', 'jobs'];

export async function render(main, ctx) {
  main.append(heading('Projects and users'));
  if (!(ctx.isAdmin && ctx.auth === 'token')) {
    main.append(h('p', { text: 'Projects, users and tokens are managed here by admins when the server runs in token mode.' }));
    return;
  }
  const errors = h('div');
  const projects = h('section', { class: 'section', 'aria-labelledby': 'projects-title' });
  const users = h('section', { class: 'section', 'aria-labelledby': 'users-title' });
  const quotas = h('section', { class: 'section', 'aria-labelledby': 'quotas-title' });
  main.append(errors, projects, users, quotas);
  const refresh = async () => {
    try {
      const [p, u, t] = await Promise.all([api.get('/v1/projects'), api.get('/v1/users'), api.get('/v1/tokens')]);
      drawProjects(projects, p.projects, errors, refresh);
      drawUsers(users, u.users, t.tokens, p.projects, errors, refresh);
      drawQuotas(quotas, p.projects, errors);
    } catch (err) {
      errors.replaceChildren(errorBox(err));
    }
  };
  await refresh();
}

function drawProjects(where, projects, errors, refresh) {
  const id = h('input', { name: 'project_id', required: true, maxlength: 64 });
  const idField = field('New project id', id);
  const submit = h('button', { type: 'submit', text: 'Create project' });
  const form = h('form', { class: 'inline' }, idField, submit);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(submit, errors, async () => {
      try { await api.post('/v1/projects', { id: id.value.trim() }); } catch (err) { idField.setError(err.message); throw err; }
      await refresh();
    });
  });
  replace(where, h('h2', { id: 'projects-title', text: 'Projects' }),
    table(['Project', 'Created'], projects.map((p) => h('tr', {}, h('td', { text: p.id }), h('td', { text: when(p.created_at) }))), 'Projects'), form);
}

function drawUsers(where, users, tokens, projects, errors, refresh) {
  const shown = h('div', { 'aria-live': 'polite' });
  const rows = users.map((u) => {
    const mine = tokens.filter((t) => t.user_id === u.id);
    const issue = button('New token', () => busy(issue, errors, async () => {
      const t = await api.post('/v1/tokens', { user_id: u.id, description: 'dashboard' });
      replace(shown, h('div', { class: 'alert warn' }, h('p', {}, h('strong', { text: `Token for ${u.name} (shown only now): ` }),
        h('code', { class: 'secret', text: t.token }), ' ', copyButton(() => t.token, 'Copy token'))));
      await refresh();
    }), 'small');
    const del = button('Delete user', async () => {
      if (!(await confirmDialog(`Delete user “${u.name}” and its tokens?`))) return;
      await busy(del, errors, async () => { await api.del(`/v1/users/${seg(u.id)}`); await refresh(); });
    }, 'small danger');
    const tokenList = h('ul', { class: 'tokens' }, mine.map((t) => {
      const revoke = t.revoked ? null : button('Revoke', async () => {
        if (!(await confirmDialog('Revoke this token? Whoever uses it is signed out.', 'Revoke'))) return;
        await busy(revoke, errors, async () => { await api.del(`/v1/tokens/${seg(t.id)}`); await refresh(); });
      }, 'small danger');
      return h('li', {}, h('code', { text: t.id.slice(0, 8) }), ` ${t.revoked ? 'revoked' : t.expires_at ? `expires ${when(t.expires_at)}` : 'no expiry'} `, revoke);
    }));
    return h('tr', {}, h('td', { text: u.name }), h('td', { text: u.project_id }), h('td', { text: u.role }), h('td', {}, tokenList), h('td', {}, issue, ' ', del));
  });
  const name = h('input', { name: 'user_name', required: true, maxlength: 255 });
  const project = h('select', { name: 'user_project' }, projects.map((p) => h('option', { value: p.id, text: p.id })));
  const role = h('select', { name: 'role' }, h('option', { value: 'member', text: 'member' }), h('option', { value: 'admin', text: 'admin' }));
  const nameField = field('New user name', name);
  const submit = h('button', { type: 'submit', text: 'Create user' });
  const form = h('form', { class: 'inline' }, nameField, field('Project', project), field('Role', role), submit);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(submit, errors, async () => {
      try { await api.post('/v1/users', { name: name.value.trim(), project_id: project.value, role: role.value }); } catch (err) { nameField.setError(err.message); throw err; }
      await refresh();
    });
  });
  replace(where, h('h2', { id: 'users-title', text: 'Users and tokens' }), shown, table(['User', 'Project', 'Role', 'Tokens', ''], rows, 'Users'), form);
}

function drawQuotas(where, projects, errors) {
  const project = h('select', { name: 'quota_project' }, projects.map((p) => h('option', { value: p.id, text: p.id })));
  const body = h('div');
  const load = async () => {
    try {
      const q = await api.get(`/v1/quotas/${seg(project.value)}`);
      const inputs = {};
      const save = h('button', { type: 'submit', text: 'Save quotas' });
      const form = h('form', { class: 'card' }, h('div', { class: 'grid' }, QUOTAS.map((k) => {
        inputs[k] = h('input', { type: 'number', min: -1, step: 1, name: k, value: q[k].limit ?? '' });
        const used = k === 'package_bytes' ? bytes(q[k].in_use) : q[k].in_use;
        const limit = q[k].limit ?? 'none';
        return field(k.replace(/_/g, ' '), inputs[k], `in use: ${used}, limit: ${limit}. Empty: the server's default; -1: no limit.`);
      })), save);
      form.addEventListener('submit', (e) => {
        e.preventDefault();
        busy(save, errors, async () => {
          const patch = {};
          for (const k of QUOTAS) {
            const before = q[k].limit === null || q[k].limit === undefined ? '' : String(q[k].limit);
            if (inputs[k].value !== before) patch[k] = inputs[k].value === '' ? null : Number(inputs[k].value);
          }
          await api.put(`/v1/quotas/${seg(project.value)}`, patch);
          await load();
        });
      });
      replace(body, form);
    } catch (err) {
      replace(body, errorBox(err));
    }
  };
  project.addEventListener('change', load);
  replace(where, h('h2', { id: 'quotas-title', text: 'Quotas' }), field('Project', project), body);
  if (projects.length) load();
}
