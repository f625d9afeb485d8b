/**
 * What the browser tests share: the server's token, notebooks put through the contents API,
 * opening JupyterLab, the submit dialog, a job's row, view and output, and the timings file.
 */
import * as fs from 'fs';
import * as path from 'path';

import { APIRequestContext, expect, Locator, Page } from '@playwright/test';

export const TOKEN = process.env.K8S_UI_TOKEN ?? 't';
export const AUTH = { Authorization: `token ${TOKEN}` };
export const IMAGES = path.resolve(__dirname, '../../../docs/images');
/** run.sh points the first-run phase elsewhere (Playwright empties test-results/ per run). */
export const TIMINGS =
  process.env.K8S_UI_TIMINGS ??
  path.resolve(__dirname, '../test-results/timings.json');

/** Record a figure in the timings file (merged with what other spec files wrote) and print it. */
export function saveTiming(name: string, value: unknown): void {
  let timings: Record<string, unknown> = {};
  try {
    timings = JSON.parse(fs.readFileSync(TIMINGS, 'utf-8'));
  } catch {
    // No file yet (or an unreadable one): start afresh.
  }
  timings[name] = value;
  fs.mkdirSync(path.dirname(TIMINGS), { recursive: true });
  fs.writeFileSync(TIMINGS, JSON.stringify(timings, null, 2));
  console.log(`TIMING ${name}: ${JSON.stringify(value)}`);
}

/** A code cell; `tags` such as `parameters`. */
export function codeCell(
  id: string,
  source: string,
  tags: string[] = []
): Record<string, unknown> {
  return {
    cell_type: 'code',
    execution_count: null,
    id,
    metadata: tags.length ? { tags } : {},
    outputs: [],
    source
  };
}

/** A Python notebook of these cells. */
export function notebookJSON(
  cells: Record<string, unknown>[],
  kernelDisplayName = 'Python 3'
): unknown {
  return {
    cells,
    metadata: {
      kernelspec: {
        display_name: kernelDisplayName,
        language: 'python',
        name: 'python3'
      },
      language_info: { name: 'python' }
    },
    nbformat: 4,
    nbformat_minor: 5
  };
}

/** Write a notebook into the server's root through the contents API. */
export async function putNotebook(
  request: APIRequestContext,
  name: string,
  content: unknown
): Promise<void> {
  const put = await request.put(`/api/contents/${name}`, {
    headers: AUTH,
    data: { type: 'notebook', format: 'json', content }
  });
  expect(put.ok()).toBeTruthy();
}

/** Load JupyterLab at `urlPath` with a fresh layout and wait for the splash screen to go. */
export async function gotoLab(page: Page, urlPath: string): Promise<void> {
  // `reset`: a fresh layout, not the workspace an earlier test left.
  await page.goto(
    `${urlPath}${urlPath.includes('?') ? '&' : '?'}reset&token=${TOKEN}`
  );
  await page.waitForSelector('#jupyterlab-splash', {
    state: 'detached',
    timeout: 90_000
  });
}

/** Load JupyterLab at `urlPath` and show the Kubernetes panel. */
export async function openLab(page: Page, urlPath: string): Promise<void> {
  await gotoLab(page, urlPath);
  await page.waitForSelector('#jupyter-k8s-sidebar', {
    state: 'attached',
    timeout: 90_000
  });
  // The panel's tab toggles it, so click only while it is hidden.
  const sidebar = page.locator('#jupyter-k8s-sidebar');
  for (let i = 0; i < 5 && !(await sidebar.isVisible()); i++) {
    await page.click('[data-id="jupyter-k8s-sidebar"]');
    await page.waitForTimeout(300);
  }
  await expect(sidebar).toBeVisible();
}

/** The "Run on Kubernetes" button of the notebook in front. */
export function runButton(page: Page): Locator {
  return page.locator(
    '.jp-NotebookPanel:not([aria-hidden="true"]) [data-jp-item-name="run-on-kubernetes"]'
  );
}

/**
 * Click "Run on Kubernetes" in the notebook's toolbar; the submit form. A notebook
 * JupyterLab just opened may count as modified: save first, if asked.
 */
export async function openSubmitDialog(page: Page): Promise<Locator> {
  await runButton(page).click();
  const form = page.locator('.jp-k8s-SubmitForm');
  const save = page.locator('.jp-Dialog button', {
    hasText: 'Save and continue'
  });
  await expect(form.or(save)).toBeVisible();
  if (await save.isVisible()) {
    await save.click();
  }
  await expect(form).toBeVisible();
  return form;
}

/** The value input of a parameter's row in the submit form. */
export function paramValue(form: Locator, name: string): Locator {
  return form.locator(
    `.jp-k8s-SubmitForm-paramRow[data-name="${name}"] .jp-k8s-SubmitForm-paramValue`
  );
}

/** Click the dialog's Submit; the server's answer (201 expected) and when the click was. */
export async function clickSubmit(
  page: Page
): Promise<{ body: { job: Record<string, unknown> }; clicked: number }> {
  const posted = page.waitForResponse(
    r =>
      new URL(r.url()).pathname.endsWith('/jupyter-k8s/jobs') &&
      r.request().method() === 'POST'
  );
  const clicked = Date.now();
  await page.locator('.jp-Dialog button', { hasText: 'Submit' }).click();
  const response = await posted;
  expect(response.status()).toBe(201);
  return { body: await response.json(), clicked };
}

/** A job's row in the panel. */
export function row(page: Page, id: string): Locator {
  return page.locator(`#jp-k8s-job-${id}`);
}

/**
 * Follow a job's chip in the panel until it ends (or `timeout`); the phases seen, in order.
 * `onTick` runs at every look, with the chip's text.
 */
export async function followPhases(
  page: Page,
  id: string,
  options: { timeout?: number; onTick?: (text: string) => Promise<void> } = {}
): Promise<string[]> {
  const chip = row(page, id).locator('.jp-k8s-Chip');
  const seen: string[] = [];
  const start = Date.now();
  while (Date.now() - start < (options.timeout ?? 120_000)) {
    const text = (await chip.textContent()) ?? '';
    const phase = text.split(' · ')[0];
    if (seen[seen.length - 1] !== phase) {
      seen.push(phase);
    }
    await options.onTick?.(text);
    if (['Succeeded', 'Failed', 'Cancelled'].includes(phase)) {
      break;
    }
    await page.waitForTimeout(100);
  }
  console.log(`phases seen: ${seen.join(' → ')}`);
  return seen;
}

/** Open a job's view from its row in the panel; the view. */
export async function openJobView(page: Page, id: string): Promise<Locator> {
  await row(page, id).click();
  const detail = page.locator(`#jupyter-k8s-job-${id}`);
  await expect(detail).toBeVisible();
  return detail;
}

/** "Open output" in a job's view; the executed notebook's panel. */
export async function openOutput(
  page: Page,
  detail: Locator,
  outputPath: string
): Promise<Locator> {
  await detail.locator('button', { hasText: 'Open output' }).click();
  const tab = page.locator('.lm-DockPanel-tabBar .lm-TabBar-tab', {
    hasText: path.basename(outputPath)
  });
  await expect(tab).toBeVisible();
  const panelId = await tab.getAttribute('data-id');
  return page.locator(`#${panelId}`);
}

/** The Sweep checkbox of a parameter's row in the submit form (several values). */
export function paramSweep(form: Locator, name: string): Locator {
  return form.locator(
    `.jp-k8s-SubmitForm-paramRow[data-name="${name}"] .jp-k8s-SubmitForm-sweepToggle`
  );
}

/** What the browser tests read of a sweep (`JobInfo.sweep`). */
export interface ISweepSeen {
  total: number;
  parallelism: number;
  indexes: { index: number; parameters: Record<string, unknown> }[];
}

/** What the browser tests read of `POST /jobs` and `.../rerun` answers: a job, or an error. */
export interface ISubmitAnswer {
  job?: {
    id: string;
    output_path?: string | null;
    parameters: Record<string, unknown>;
    sweep?: ISweepSeen | null;
  };
  message?: string;
}

/** What the browser tests read of `POST /schedules` answers: a schedule, or an error. */
export interface IScheduleAnswer {
  schedule?: { id: string; cron: string };
  message?: string;
  field?: string;
}

/**
 * Click the dialog's Submit; the answer of the POST to `/jupyter-k8s/<collection>`,
 * whatever its status (a 400 brings the dialog back with the server's message), and the
 * request body the form sent.
 */
async function submitTo<T>(
  page: Page,
  collection: 'jobs' | 'schedules'
): Promise<{ status: number; body: T; sent: Record<string, unknown> }> {
  const posted = page.waitForResponse(
    r =>
      new URL(r.url()).pathname.endsWith(`/jupyter-k8s/${collection}`) &&
      r.request().method() === 'POST'
  );
  await page.locator('.jp-Dialog button', { hasText: 'Submit' }).click();
  const response = await posted;
  return {
    status: response.status(),
    body: (await response.json()) as T,
    sent: response.request().postDataJSON() as Record<string, unknown>
  };
}

/** Submit a job (or sweep) from the dialog: see `submitTo`. */
export function submitAnswer(page: Page): Promise<{
  status: number;
  body: ISubmitAnswer;
  sent: Record<string, unknown>;
}> {
  return submitTo<ISubmitAnswer>(page, 'jobs');
}

/** Submit with Schedule on: see `submitTo`. */
export function submitSchedule(page: Page): Promise<{
  status: number;
  body: IScheduleAnswer;
  sent: Record<string, unknown>;
}> {
  return submitTo<IScheduleAnswer>(page, 'schedules');
}
