// One execution: status, duration, result or message, and log; followed while it runs.

import { api, seg } from '../api.js';
import { h, heading, errorBox, busy, confirmDialog, button, announce } from '../dom.js';
import { executionView, follow } from '../execution-view.js';

export async function render(main, ctx, id) {
  let e;
  try {
    e = await api.get(`/v1/executions/${seg(id)}`);
  } catch (err) {
    main.append(heading('Execution'), errorBox(err));
    return undefined;
  }
  const errors = h('div');
  const del = button('Delete', async () => {
    if (!(await confirmDialog('Delete this execution and its log?'))) return;
    await busy(del, errors, async () => {
      await api.del(`/v1/executions/${seg(e.id)}`);
      announce('Execution deleted');
      location.hash = '#/executions';
    });
  }, 'danger');
  const view = executionView();
  main.append(heading('Execution', h('a', { class: 'button', href: `#/run/${seg(e.function_id)}`, text: 'Run the function' }), del), errors, view.el);
  await view.update(e);
  if (e.status !== 'running') return undefined;
  return follow(e.id, async (done, err) => {
    if (err) errors.replaceChildren(errorBox(err));
    else await view.update(done);
  });
}
