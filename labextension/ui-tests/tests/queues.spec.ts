/**
 * Queued GPU work with Kueue in a real JupyterLab (run.sh's cluster runs Kueue, one GPU, the
 * sample LocalQueue `gpu` -> ClusterQueue `team-a`; profile `gpu-queued` names queue `gpu`,
 * may name `nosuch` too, priority `low` by default or `high`). The submit dialog offers the
 * queue and the priority; a queue the namespace lacks is the server's 400, in the dialog,
 * for a job, a sweep and a schedule alike. Two jobs that each hold the one GPU for a while:
 * the second shows "Queued 1/1 in gpu" in its row and its position in its view while the
 * first runs, then runs and succeeds. Screenshot docs/images/queued-job.png.
 */
import * as path from 'path';

import { expect, Locator, Page, test } from '@playwright/test';

import {
  codeCell,
  followPhases,
  IMAGES,
  notebookJSON,
  openJobView,
  openLab,
  openSubmitDialog,
  paramSweep,
  paramValue,
  putNotebook,
  row,
  runButton,
  saveTiming,
  submitAnswer,
  submitSchedule
} from './helpers';

const NOTEBOOK = 'ui-queued.ipynb';
const PROFILE = 'gpu-queued';

const CELLS = [
  codeCell('params', 'seconds = 20  # holds the GPU this long\n', [
    'parameters'
  ]),
  codeCell(
    'work',
    'import time\nfor i in range(seconds):\n    print("on the GPU", i, flush=True)\n    time.sleep(1)\n'
  ),
  codeCell('done', "print('done', seconds)\n")
];

/** The submit dialog on the queued profile, `seconds` set; the form. */
async function queuedForm(page: Page, seconds: number): Promise<Locator> {
  const form = await openSubmitDialog(page);
  await form.locator('select[data-field="profile"]').selectOption(PROFILE);
  await paramValue(form, 'seconds').fill(String(seconds));
  return form;
}

/** The same form as the dialog shows it again after the server's error. */
function formAgain(page: Page): Locator {
  return page.locator('.jp-k8s-SubmitForm');
}

test.skip(
  process.env.K8S_UI_KUEUE === '0',
  'the cluster runs no Kueue (K8S_UI_KUEUE=0)'
);

test.beforeAll(async ({ request }) => {
  await putNotebook(request, NOTEBOOK, notebookJSON(CELLS));
});

test('the dialog offers the queue and priority; a missing queue is the server’s 400 for a job, a sweep and a schedule', async ({
  page
}) => {
  await openLab(page, `/lab/tree/${NOTEBOOK}`);
  await expect(runButton(page)).toBeVisible({ timeout: 60_000 });
  let form = await queuedForm(page, 1);

  // The profile's queues and priority classes, the defaults first and picked.
  const queue = form.locator('select[data-field="queue"]');
  const priority = form.locator('select[data-field="priority_class"]');
  await expect(queue).toHaveValue('gpu');
  await expect(queue.locator('option')).toHaveText(['gpu (default)', 'nosuch']);
  await expect(priority).toHaveValue('low');
  await expect(priority.locator('option')).toHaveText([
    'low (default)',
    'high'
  ]);
  await expect(form.locator('.jp-k8s-SubmitForm-hint').first()).toContainText(
    'queue gpu'
  );

  // A queue the namespace has no LocalQueue for: 400 naming the field, in the dialog.
  await queue.selectOption('nosuch');
  let answer = await submitAnswer(page);
  expect(answer.status).toBe(400);
  expect(answer.sent.queue).toBe('nosuch');
  expect(answer.sent.priority_class).toBeUndefined(); // the default is not sent
  form = formAgain(page);
  await expect(form.locator('.jp-k8s-SubmitForm-error')).toHaveText(
    answer.body.message!
  );
  await expect(form.locator('.jp-k8s-SubmitForm-error')).toContainText(
    'nosuch'
  );
  await expect(form.locator('select[data-field="queue"]')).toHaveValue(
    'nosuch'
  );
  await expect(form.locator('select[data-field="queue"]')).toHaveAttribute(
    'aria-invalid',
    'true'
  );
  console.log(`missing queue: ${answer.body.message}`);

  // A sweep is the same request: it carries the queue (and gets the same answer).
  await paramSweep(form, 'seconds').check();
  await paramValue(form, 'seconds').fill('1, 2');
  answer = await submitAnswer(page);
  expect(answer.status).toBe(400);
  expect(answer.sent.queue).toBe('nosuch');
  expect(answer.sent.sweep).toBeTruthy();

  // So is a schedule (POST /schedules), with the priority picked.
  form = formAgain(page);
  await paramSweep(form, 'seconds').uncheck();
  await form
    .locator('select[data-field="priority_class"]')
    .selectOption('high');
  await form.locator('.jp-k8s-SubmitForm-scheduleToggle').check();
  await form.locator('input[data-field="cron"]').fill('0 6 * * *');
  const scheduled = await submitSchedule(page);
  expect(scheduled.status).toBe(400);
  expect(scheduled.body.field).toBe('queue');
  expect(scheduled.sent.queue).toBe('nosuch');
  expect(scheduled.sent.priority_class).toBe('high');

  await page.locator('.jp-Dialog button', { hasText: 'Cancel' }).click();
  await expect(page.locator('.jp-Dialog')).toHaveCount(0);
});

test('a second GPU job waits in the queue with its position, then runs and succeeds', async ({
  page
}) => {
  await openLab(page, `/lab/tree/${NOTEBOOK}`);
  await expect(runButton(page)).toBeVisible({ timeout: 60_000 });

  // The first job takes the one GPU of the ClusterQueue's quota.
  await queuedForm(page, 25);
  const first = await submitAnswer(page);
  expect(first.status).toBe(201);
  expect(first.sent.queue).toBeUndefined(); // the profile's own queue: nothing to send
  const firstId = first.body.job!.id;
  await expect(row(page, firstId)).toBeVisible();
  const started = Date.now();
  await expect(row(page, firstId).locator('.jp-k8s-Chip')).toContainText(
    'Running',
    { timeout: 90_000 }
  );
  saveTiming('queued_first_job_to_running_ms', Date.now() - started);

  // The second waits for it: its place in the row, Kueue's words in the row's title.
  await queuedForm(page, 3);
  const second = await submitAnswer(page);
  expect(second.status).toBe(201);
  const id = second.body.job!.id;
  const chip = row(page, id).locator('.jp-k8s-Chip');
  await expect(chip).toHaveText('Pending · Queued 1/1 in gpu', {
    timeout: 30_000
  });
  await expect(row(page, id)).toHaveAttribute(
    'title',
    /Queued in gpu: position 1 of 1/
  );
  await expect(row(page, id).locator('.jp-k8s-JobRow-message')).toContainText(
    'Queued in gpu: position 1 of 1'
  );

  // Its view: the Queue block with the position, the ClusterQueue and its usage.
  const detail = await openJobView(page, id);
  const block = detail.locator('.jp-k8s-JobQueue');
  const field = (key: string) => block.locator(`dd[data-field="${key}"]`);
  await expect(field('state')).toHaveText('Queued');
  await expect(field('queue')).toHaveText('gpu');
  await expect(field('cluster_queue')).toHaveText('team-a');
  await expect(field('position')).toHaveText('1 of 1');
  await expect(field('priority_class')).toHaveText('low');
  await expect(field('usage')).toContainText('nvidia.com/gpu 1 of 1');
  await expect(field('message')).toContainText(
    'Queued in gpu: position 1 of 1'
  );
  await expect(
    detail.locator('.jp-k8s-JobDetail-header .jp-k8s-Chip')
  ).toHaveText('Pending · Queued 1/1 in gpu');
  // No toast over the screenshot: the panel with both jobs and the queued job's view.
  const hide = await page.addStyleTag({
    content: '.Toastify { display: none !important; }'
  });
  await page.screenshot({ path: path.join(IMAGES, 'queued-job.png') });
  await hide.evaluate(node => node.remove());

  // When the first finishes, Kueue admits the second: it runs, succeeds, and the view
  // follows (no position once admitted).
  const waited = Date.now();
  const seen = await followPhases(page, id, { timeout: 150_000 });
  expect(seen).toEqual(['Pending', 'Running', 'Succeeded']);
  saveTiming('queued_second_job_wait_to_succeeded_ms', Date.now() - waited);
  await expect(field('state')).toHaveText(/Admitted|Finished/);
  await expect(field('position')).toHaveCount(0);
  await expect(row(page, firstId).locator('.jp-k8s-Chip')).toHaveText(
    'Succeeded'
  );
  await expect(detail.locator('.jp-k8s-JobDetail-log')).toContainText('done 3');
});
