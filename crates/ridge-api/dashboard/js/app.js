// Start-up: find out who we are (or ask for a token), then show the page the hash names.

import { api } from './api.js';
import { h, replace, button } from './dom.js';
import { clearToken, token } from './session.js';
import { route, show } from './router.js';
import { signIn } from './signin.js';

route('/overview', () => import('./pages/overview.js'));
route('/functions', () => import('./pages/functions.js'));
route('/functions/new', () => import('./pages/function-new.js'));
route('/functions/:id', () => import('./pages/function.js'));
route('/run/:id', () => import('./pages/run.js'));
route('/executions', () => import('./pages/executions.js'));
route('/executions/:id', () => import('./pages/execution.js'));
route('/webhooks', () => import('./pages/webhooks.js'));
route('/jobs', () => import('./pages/jobs.js'));
route('/triggers', () => import('./pages/triggers.js'));
route('/runtimes', () => import('./pages/runtimes.js'));
route('/admin', () => import('./pages/admin.js'));

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
let ctx = null;

async function start() {
  let whoami;
  try {
    whoami = await api.get('/v1/whoami');
  } catch (err) {
    if (err.status === 401) return signedOut(token() ? err.message : null);
    replace(main, h('h1', { text: 'Ridge is not reachable' }), h('p', { class: 'alert', role: 'alert', text: err.message }));
    return undefined;
  }
  ctx = { whoami, isAdmin: whoami.is_admin, auth: whoami.auth, navigated: false };
  nav.hidden = false;
  for (const el of nav.querySelectorAll('[data-admin]')) el.hidden = !(ctx.isAdmin && ctx.auth === 'token');
  const name = whoami.user_id ? `${whoami.user_id} · ${whoami.project_id}` : `project ${whoami.project_id}`;
  replace(who,
    h('span', { class: 'muted', text: `${name}${ctx.isAdmin ? ' (admin)' : ''}` }),
    whoami.auth === 'none' ? h('span', { class: 'badge', title: 'auth mode none: no sign-in on this server', text: 'no auth' }) : button('Sign out', signOut, 'small'));
  return show(main, ctx);
}

function signedOut(message) {
  ctx = null;
  nav.hidden = true;
  who.replaceChildren();
  clearToken();
  signIn(main, message, start);
}

function signOut() {
  clearToken();
  signedOut(null);
}

window.addEventListener('hashchange', () => { if (ctx) show(main, ctx); });
window.addEventListener('ridge:unauthorized', (e) => { if (ctx && ctx.auth !== 'none') signedOut(e.detail); });
start();
