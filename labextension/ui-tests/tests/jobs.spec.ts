/**
 * Notebook jobs in a real JupyterLab on the local cluster (see run.sh): submit from the
 * notebook toolbar with one parameter changed, watch Pending → Running → Succeeded in the
 * side panel, follow the log, open the executed notebook and find the injected parameter;
 * a GPU job that cannot be scheduled shows the scheduler's reason and is cancelled; 1,000
 * jobs render and scroll. Screenshots go to docs/images/.
 */
import * as path from 'path';

import { APIRequestContext, expect, Page, test } from '@playwright/test';

import {
  AUTH,
  clickSubmit,
  codeCell,
  followPhases,
  IMAGES,
  notebookJSON,
  openJobView,
  openLab,
  openOutput,
  openSubmitDialog,
  paramValue,
  putNotebook,
  row,
  runButton,
  saveTiming
} from './helpers';

const NOTEBOOK = 'ui-test.ipynb';

const CELLS = [
  codeCell(
    'params',
    'n = 4  # seconds of work\nlabel = "default"\nrate = 0.5\nflags = [1, 2]\n',
    ['parameters']
  ),
  codeCell(
    'work',
    'import time\nfor i in range(n):\n    print(label, i, flush=True)\n    time.sleep(1)\n'
  ),
  codeCell('done', "print('done', label, n * rate)\n")
];

/**
 * Submit through the REST API (a job started elsewhere: CLI, magic) and show it in the
 * panel at once with the refresh button; the job's id.
 */
async function submitElsewhere(
  page: Page,
  request: APIRequestContext,
  data: Record<string, unknown>
): Promise<string> {
  const res = await request.post('/jupyter-k8s/jobs', {
    headers: AUTH,
    data: { notebook: NOTEBOOK, ...data }
  });
  expect(res.status()).toBe(201);
  const id = (await res.json()).job.id as string;
  await page.getByTitle('Refresh the job list').click();
  await expect(row(page, id)).toBeVisible();
  return id;
}

test.beforeAll(async ({ request }) => {
  await putNotebook(request, NOTEBOOK, notebookJSON(CELLS));
});

test('submit with a changed parameter, follow it to Succeeded, open the output', async ({
  page
}) => {
  await openLab(page, `/lab/tree/${NOTEBOOK}`);
  const button = runButton(page);
  await expect(button).toBeVisible({ timeout: 60_000 });
  await expect(button).toContainText('Run on Kubernetes');
  const form = await openSubmitDialog(page);

  // The parameters form is typed from the parameters cell.
  const value = (name: string) => paramValue(form, name);
  const kind = (name: string) =>
    form.locator(
      `.jp-k8s-SubmitForm-paramRow[data-name="${name}"] .jp-k8s-SubmitForm-paramKind`
    );
  await expect(value('n')).toHaveValue('4');
  await expect(kind('n')).toHaveValue('int');
  await expect(value('label')).toHaveValue('default');
  await expect(kind('label')).toHaveValue('string');
  await expect(kind('rate')).toHaveValue('float');
  await expect(kind('flags')).toHaveValue('json');
  await expect(form.locator('select[data-field="profile"]')).toHaveValue(
    'small'
  );
  await expect(form.locator('.jp-k8s-SubmitForm-comment')).toContainText(
    'seconds of work'
  );

  await value('label').fill('from-the-ui');
  await expect(
    form.locator('.jp-k8s-SubmitForm-paramRow[data-name="label"]')
  ).toHaveClass(/jp-mod-changed/);
  await page.locator('.jp-Dialog-content').screenshot({
    path: path.join(IMAGES, 'submit-dialog.png')
  });

  // Submit: the job is in the list as soon as the server answers.
  const { body, clicked } = await clickSubmit(page);
  const id = body.job.id as string;
  expect(body.job.parameters).toEqual({ label: 'from-the-ui' });
  await expect(row(page, id)).toBeVisible();
  saveTiming('submit_click_to_row_ms', Date.now() - clicked);

  // Pending → Running → Succeeded, as the chip says.
  let sidebarShot = false;
  const seen = await followPhases(page, id, {
    onTick: async text => {
      if (text.startsWith('Running') && !sidebarShot && text.includes('cell')) {
        sidebarShot = true;
        await page.locator('#jupyter-k8s-sidebar').screenshot({
          path: path.join(IMAGES, 'sidebar-running.png')
        });
      }
    }
  });
  expect(seen[0]).toBe('Pending');
  expect(seen).toContain('Running');
  expect(seen[seen.length - 1]).toBe('Succeeded');
  expect(seen.indexOf('Running')).toBeLessThan(seen.indexOf('Succeeded'));
  saveTiming('phases_seen', seen);

  // The notification of this session's job, with its "Open output" action.
  const toast = page.locator('.Toastify__toast', { hasText: 'succeeded' });
  await expect(toast).toBeVisible();
  await expect(
    toast.locator('button', { hasText: 'Open output' })
  ).toBeVisible();

  // The job's detail: parameters, profile, the complete log.
  const detail = await openJobView(page, id);
  await expect(
    detail.locator('.jp-k8s-JobDetail-header .jp-k8s-Chip')
  ).toHaveText('Succeeded');
  await expect(detail.locator('.jp-k8s-JobDetail-paramTable')).toContainText(
    '"from-the-ui"'
  );
  await expect(detail.locator('.jp-k8s-JobDetail-fields')).toContainText(
    'small'
  );
  const log = detail.locator('.jp-k8s-JobDetail-log');
  await expect(log).toContainText('from-the-ui 3');
  await expect(log).toContainText('done from-the-ui 2.0');
  await expect(detail.locator('.jp-k8s-JobDetail-logStatus')).toHaveText(
    'End of the log.'
  );
  // The events timeline: the milestones and the Kubernetes events, oldest first.
  const timeline = detail.locator('.jp-k8s-Timeline');
  for (const title of ['Submitted', 'Scheduled', 'Started', 'Succeeded']) {
    await expect(
      timeline.locator('.jp-k8s-Timeline-title', { hasText: title }).first()
    ).toBeVisible();
  }
  const titles = await timeline
    .locator('.jp-k8s-Timeline-title')
    .allTextContents();
  expect(titles[0]).toBe('Submitted');
  expect(titles[titles.length - 1]).toBe('Succeeded');
  expect(titles.indexOf('Scheduled')).toBeLessThan(titles.indexOf('Started'));
  // No toast over the screenshot.
  const hide = await page.addStyleTag({
    content: '.Toastify { display: none !important; }'
  });
  await detail.screenshot({ path: path.join(IMAGES, 'job-detail.png') });
  await hide.evaluate(node => node.remove());

  // Open the executed notebook: the injected parameter is in it.
  const notebook = await openOutput(
    page,
    detail,
    body.job.output_path as string
  );
  await expect(notebook).toContainText('label = "from-the-ui"');
  await expect(notebook).toContainText('done from-the-ui 2.0');
});

test('submit latency: click Submit to the row in the list (5 runs)', async ({
  page,
  request
}) => {
  await openLab(page, `/lab/tree/${NOTEBOOK}`);
  const samples: number[] = [];
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    const form = await openSubmitDialog(page);
    await expect(form.locator('select[data-field="profile"]')).toHaveValue(
      'small'
    );
    await paramValue(form, 'n').fill('1');
    const { body, clicked } = await clickSubmit(page);
    const id = body.job.id as string;
    await expect(row(page, id)).toBeVisible();
    samples.push(Date.now() - clicked);
    ids.push(id);
  }
  const sorted = [...samples].sort((a, b) => a - b);
  saveTiming('submit_click_to_row_5_runs_ms', {
    samples,
    p50: sorted[2],
    max: sorted[4]
  });
  expect(sorted[2]).toBeLessThan(500);
  for (const id of ids) {
    await request.delete(`/jupyter-k8s/jobs/${id}`, { headers: AUTH });
  }
});

test('live log while running, then the log streams to its end', async ({
  page,
  request
}) => {
  await openLab(page, '/lab');
  const id = await submitElsewhere(page, request, {
    parameters: { n: 8, label: 'streamed' }
  });
  const detail = await openJobView(page, id);
  const log = detail.locator('.jp-k8s-JobDetail-log');
  // A line printed while the job still runs reaches the page before the job ends.
  await expect(log).toContainText('streamed 1', { timeout: 60_000 });
  const chipText = await detail
    .locator('.jp-k8s-JobDetail-header .jp-k8s-Chip')
    .textContent();
  expect(chipText).toContain('Running');
  await expect(
    detail.locator('.jp-k8s-JobDetail-header .jp-k8s-Chip')
  ).toHaveText('Succeeded', {
    timeout: 60_000
  });
  await expect(log).toContainText('streamed 7');
});

test('cancel a running job: it stops, its notebook is kept as far as it got', async ({
  page,
  request
}) => {
  await openLab(page, '/lab');
  const id = await submitElsewhere(page, request, {
    parameters: { n: 120, label: 'to-cancel' }
  });
  const detail = await openJobView(page, id);
  const chip = detail.locator('.jp-k8s-JobDetail-header .jp-k8s-Chip');
  // Running, and already printing: the cancel interrupts real work.
  await expect(detail.locator('.jp-k8s-JobDetail-log')).toContainText(
    'to-cancel 1',
    { timeout: 60_000 }
  );
  await expect(chip).toContainText('Running');

  await detail.locator('button', { hasText: 'Cancel' }).click();
  await page.locator('.jp-Dialog button', { hasText: 'Cancel job' }).click();
  await expect(chip).toHaveText(/^Cancelled/, { timeout: 60_000 });
  await expect(row(page, id).locator('.jp-k8s-Chip')).toHaveText(/^Cancelled/);
  await expect(detail.locator('button', { hasText: 'Cancel' })).toBeDisabled();
  // The partial notebook comes back and opens; the timeline ends with the cancel.
  await expect(
    detail.locator('button', { hasText: 'Open output' })
  ).toBeEnabled({ timeout: 60_000 });
  await expect(detail.locator('.jp-k8s-Timeline-entry').last()).toContainText(
    'Cancelled'
  );
  const job = await (
    await request.get(`/jupyter-k8s/jobs/${id}`, { headers: AUTH })
  ).json();
  expect(job.phase).toBe('Cancelled');
  expect(job.output_state).toBe('ready');
  const output = await request.get(`/api/contents/${job.output_path}`, {
    headers: AUTH
  });
  expect(output.ok()).toBeTruthy();
  expect(JSON.stringify((await output.json()).content)).toContain('to-cancel');
});

test('a GPU job that cannot be scheduled shows the reason; cancel it; delete it', async ({
  page,
  request
}) => {
  await openLab(page, '/lab');
  const id = await submitElsewhere(page, request, { profile: 'two-gpus' });
  const chip = row(page, id).locator('.jp-k8s-Chip');
  await expect(chip).toHaveText('Pending · Unschedulable', { timeout: 60_000 });
  await expect(row(page, id)).toContainText('Insufficient nvidia.com/gpu');
  await page.locator('#jupyter-k8s-sidebar').screenshot({
    path: path.join(IMAGES, 'sidebar.png')
  });

  const detail = await openJobView(page, id);
  await expect(detail.locator('.jp-k8s-JobDetail-reason')).toContainText(
    'Insufficient nvidia.com/gpu'
  );
  await expect(
    detail.locator('.jp-k8s-Timeline-entry.jp-mod-warning', {
      hasText: 'FailedScheduling'
    })
  ).toContainText('Insufficient nvidia.com/gpu');
  await detail.locator('button', { hasText: 'Cancel' }).click();
  await page.locator('.jp-Dialog button', { hasText: 'Cancel job' }).click();
  await expect(chip).toHaveText(/^Cancelled/, { timeout: 30_000 });

  await detail.locator('button', { hasText: 'Delete' }).click();
  await page.locator('.jp-Dialog button', { hasText: 'Delete' }).click();
  await expect(row(page, id)).toHaveCount(0);
  await expect(detail).toHaveCount(0);
});

test('at idle the UI asks the server less than once a second, mostly 304s', async ({
  page
}) => {
  await openLab(page, '/lab');
  await expect(page.locator('.jp-k8s-JobRow').first()).toBeVisible();
  // Let the first polls and any finishing job settle, then count.
  await page.waitForTimeout(5000);
  const seen: number[] = [];
  page.on('response', response => {
    if (new URL(response.url()).pathname.includes('/jupyter-k8s/')) {
      seen.push(response.status());
    }
  });
  const seconds = 45;
  await page.waitForTimeout(seconds * 1000);
  const perSecond = seen.length / seconds;
  const notModified = seen.filter(s => s === 304).length;
  saveTiming('idle_requests', {
    seconds,
    requests: seen.length,
    per_second: Number(perSecond.toFixed(3)),
    not_modified: notModified
  });
  expect(perSecond).toBeLessThan(1);
  expect(seen.length).toBeGreaterThan(0);
  expect(notModified).toBeGreaterThan(0);
});

test('1,000 jobs: filter, render and scroll the windowed list', async ({
  page
}) => {
  const now = Date.now();
  const phases = ['Succeeded', 'Failed', 'Cancelled', 'Running', 'Pending'];
  const jobs = Array.from({ length: 1000 }, (_, i) => {
    const phase = i < 995 ? phases[i % 3] : phases[3 + (i % 2)];
    return {
      id: `nb-synthetic-${String(i).padStart(4, '0')}`,
      notebook: `reports/report-${i % 50}.ipynb`,
      owner: 'me',
      profile: i % 7 === 0 ? 'two-gpus' : 'small',
      image: 'python:3.11-slim',
      parameters: { i },
      phase,
      reason: phase === 'Failed' ? 'NotebookFailed' : null,
      message:
        phase === 'Failed' ? `ValueError: bad row ${i} (in cell [3])` : null,
      created: new Date(now - i * 60_000).toISOString(),
      started: new Date(now - i * 60_000 + 2000).toISOString(),
      finished:
        phase === 'Running' || phase === 'Pending'
          ? null
          : new Date(now - i * 60_000 + 30_000).toISOString(),
      duration_seconds: 28 + (i % 30),
      current_cell: 3,
      total_cells: 7,
      output_path: `reports/report-${i % 50}.${i}.ipynb`,
      output_state: 'ready',
      output_error: null
    };
  });
  await page.route(/\/jupyter-k8s\/jobs(\?.*)?$/, async route => {
    if (route.request().method() !== 'GET') {
      return route.continue();
    }
    const url = new URL(route.request().url());
    const status = url.searchParams.get('status');
    const list = status
      ? jobs.filter(j =>
          status.toLowerCase().split(',').includes(j.phase.toLowerCase())
        )
      : jobs;
    await route.fulfill({
      contentType: 'application/json',
      body: JSON.stringify({
        jobs: list,
        total: list.length,
        offset: 0,
        limit: 1000
      })
    });
  });
  await openLab(page, '/lab');
  const list = page.locator('#jupyter-k8s-sidebar .jp-k8s-VirtualList');
  await expect(page.locator('.jp-k8s-JobsPanel-summary')).toContainText(
    '1000 jobs'
  );

  const figures = await page.evaluate(async () => {
    const input = document.querySelector<HTMLInputElement>(
      '.jp-k8s-JobsPanel-search'
    )!;
    const scroller = document.querySelector<HTMLElement>(
      '#jupyter-k8s-sidebar .jp-k8s-VirtualList'
    )!;
    const times: number[] = [];
    // Re-render the whole list (filter 1,000 jobs, lay out the window) ten times.
    for (let k = 0; k < 10; k++) {
      input.value = k % 2 ? 'report-1' : '';
      const t = performance.now();
      input.dispatchEvent(new Event('input'));
      times.push(performance.now() - t);
    }
    input.value = '';
    input.dispatchEvent(new Event('input'));
    const rows = scroller.querySelectorAll('.jp-k8s-VirtualList-row').length;
    // Frame durations of this headless browser doing nothing (the baseline) ...
    const idleFrames: number[] = [];
    await new Promise<void>(resolve => {
      let last = performance.now();
      const step = () => {
        const t = performance.now();
        idleFrames.push(t - last);
        last = t;
        if (idleFrames.length > 60) {
          resolve();
          return;
        }
        requestAnimationFrame(step);
      };
      requestAnimationFrame(step);
    });
    idleFrames.sort((a, b) => a - b);
    // ... and scrolling from top to bottom in 120 frames.
    const frames: number[] = [];
    const total = scroller.scrollHeight - scroller.clientHeight;
    await new Promise<void>(resolve => {
      let i = 0;
      let last = performance.now();
      const step = () => {
        const t = performance.now();
        if (i > 0) {
          frames.push(t - last);
        }
        last = t;
        if (i > 120) {
          resolve();
          return;
        }
        scroller.scrollTop = (total * i) / 120;
        i++;
        requestAnimationFrame(step);
      };
      requestAnimationFrame(step);
    });
    frames.sort((a, b) => a - b);
    times.sort((a, b) => a - b);
    return {
      renderMs: { median: times[5], max: times[9] },
      rowsInDOM: rows,
      rowsAtBottom: scroller.querySelectorAll('.jp-k8s-VirtualList-row').length,
      lastRowText:
        scroller.querySelector('[aria-posinset="1000"]')?.textContent ?? null,
      idleFrameMs: { median: idleFrames[30], p95: idleFrames[57] },
      frameMs: {
        median: frames[Math.floor(frames.length / 2)],
        p95: frames[Math.floor(frames.length * 0.95)],
        max: frames[frames.length - 1]
      }
    };
  });
  console.log(`1,000 jobs: ${JSON.stringify(figures)}`);
  saveTiming('list_1000', figures);
  expect(figures.rowsInDOM).toBeLessThan(60);
  expect(figures.lastRowText).toContain('report-49');
  expect(figures.renderMs.median).toBeLessThan(50);

  // Filters: status and notebook text.
  await page.locator('.jp-k8s-JobsPanel-status').selectOption('Failed');
  await expect(page.locator('.jp-k8s-JobsPanel-summary')).toContainText(
    '332 of 1000 jobs'
  );
  await page.locator('.jp-k8s-JobsPanel-search').fill('report-7.');
  await expect(page.locator('.jp-k8s-JobsPanel-summary')).toContainText(
    ' of 1000 jobs'
  );
  // Keyboard: focus the list, move with the arrows, open with Enter.
  await page.locator('.jp-k8s-JobsPanel-status').selectOption('');
  await page.locator('.jp-k8s-JobsPanel-search').fill('');
  await list.focus();
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  await expect(list).toHaveAttribute(
    'aria-activedescendant',
    'jp-k8s-job-nb-synthetic-0002'
  );
  await page.keyboard.press('End');
  await expect(list).toHaveAttribute(
    'aria-activedescendant',
    'jp-k8s-job-nb-synthetic-0999'
  );
  await page.keyboard.press('Enter');
  await expect(
    page.locator('#jupyter-k8s-job-nb-synthetic-0999')
  ).toBeVisible();
});

test('the panel in the dark theme', async ({ page }) => {
  await openLab(page, '/lab');
  const menu = async (top: string, sub: string, item: string) => {
    await page.locator('.lm-MenuBar-itemLabel', { hasText: top }).click();
    await page
      .locator('.lm-Menu-itemLabel', { hasText: new RegExp(`^${sub}$`) })
      .hover();
    await page
      .locator('.lm-Menu-itemLabel', { hasText: new RegExp(`^${item}$`) })
      .click();
  };
  await menu('Settings', 'Theme', 'JupyterLab Dark');
  await expect(page.locator('body')).toHaveAttribute(
    'data-jp-theme-light',
    'false'
  );
  await page.waitForTimeout(1000);
  await page.screenshot({
    path: path.resolve(__dirname, '../test-results/dark-theme.png')
  });
  await page.locator('#jupyter-k8s-sidebar').screenshot({
    path: path.resolve(__dirname, '../test-results/dark-theme-sidebar.png')
  });
  await menu('Settings', 'Theme', 'JupyterLab Light');
  await expect(page.locator('body')).toHaveAttribute(
    'data-jp-theme-light',
    'true'
  );
});

test('rerun with changed parameters from a job’s view', async ({
  page,
  request
}) => {
  await openLab(page, '/lab');
  const first = await submitElsewhere(page, request, {
    parameters: { n: 1, label: 'first' }
  });
  const detail = await openJobView(page, first);
  await detail.locator('button', { hasText: 'Rerun with changes…' }).click();
  const form = page.locator('.jp-k8s-SubmitForm');
  const value = (name: string) => paramValue(form, name);
  // Pre-filled with the job's values over the notebook's.
  await expect(value('n')).toHaveValue('1');
  await expect(value('label')).toHaveValue('first');
  await expect(value('rate')).toHaveValue('0.5');
  await value('label').fill('second');
  const posted = page.waitForResponse(
    r =>
      /\/jupyter-k8s\/jobs\/[^/]+\/rerun$/.test(new URL(r.url()).pathname) &&
      r.request().method() === 'POST'
  );
  await page.locator('.jp-Dialog button', { hasText: 'Rerun' }).click();
  const body = await (await posted).json();
  expect(body.job.parameters).toEqual({ n: 1, label: 'second' });
  const second = body.job.id as string;
  await expect(page.locator(`#jupyter-k8s-job-${second}`)).toBeVisible();
  await expect(row(page, second)).toBeVisible();
  for (const id of [first, second]) {
    await request.delete(`/jupyter-k8s/jobs/${id}`, { headers: AUTH });
  }
});
