/**
 * The live view in a real JupyterLab on the local cluster (see run.sh): a notebook of five
 * cells that each sleep 2 s and print the pod's clock. The job's row says cell k of N and
 * the running cell's first line as k advances; the live view shows each finished cell's
 * output as it comes, in order, the running cell highlighted. Measured in the browser: a
 * cell's end in the pod (the `time.time()` it prints) to its output shown in the live view
 * (`Date.now()` when the output appears; the pods run on this machine, so the clocks
 * agree); p50 into timings.json. Screenshot docs/images/live-view.png.
 */
import * as path from 'path';

import { expect, test } from '@playwright/test';

import {
  clickSubmit,
  codeCell,
  IMAGES,
  notebookJSON,
  openJobView,
  openLab,
  openSubmitDialog,
  putNotebook,
  row,
  saveTiming
} from './helpers';

const NOTEBOOK = 'live-ui.ipynb';
const CELLS = 5;

// Each cell's first line names it (the row shows it); its end prints the pod's clock.
const cells = Array.from({ length: CELLS }, (_, i) =>
  codeCell(
    `step${i + 1}`,
    `# step ${i + 1} of ${CELLS}\n` +
      'import time\n' +
      'time.sleep(2)\n' +
      `print("LIVE ${i + 1}", repr(time.time()))\n`
  )
);

test.beforeAll(async ({ request }) => {
  await putNotebook(request, NOTEBOOK, notebookJSON(cells));
});

test('a running job: cell k of 5 in its row, its cells in the live view as they finish', async ({
  page
}) => {
  test.setTimeout(240_000);
  await page.setViewportSize({ width: 1400, height: 900 });
  await openLab(page, `/lab/tree/${NOTEBOOK}`);
  await openSubmitDialog(page);
  const { body } = await clickSubmit(page);
  const id = body.job.id as string;
  const jobRow = row(page, id);
  await expect(jobRow).toBeVisible();

  // Open the live view as soon as a cell runs.
  const chip = jobRow.locator('.jp-k8s-Chip');
  await expect(chip).toHaveText(/^Running · cell \d+/, {
    timeout: 120_000
  });
  const detail = await openJobView(page, id);
  const liveButton = detail.locator('button', { hasText: 'Open live view' });
  await expect(liveButton).toBeEnabled();

  // Watch the page for outputs: the first time each cell's "LIVE k <pod time>" shows.
  const opened = Date.now();
  await page.evaluate(() => {
    const seen: Record<string, { pod: number; shown: number }> = {};
    (window as unknown as { liveSeen: typeof seen }).liveSeen = seen;
    const look = () => {
      const now = Date.now();
      for (const node of document.querySelectorAll(
        '.jp-k8s-LiveView .jp-OutputArea-output'
      )) {
        const m = /LIVE (\d+) ([\d.]+)/.exec(node.textContent ?? '');
        if (m && !seen[m[1]]) {
          seen[m[1]] = { pod: Number(m[2]) * 1000, shown: now };
        }
      }
    };
    new MutationObserver(look).observe(document.body, {
      childList: true,
      subtree: true,
      characterData: true
    });
  });
  await liveButton.click();
  const live = page.locator(`#jupyter-k8s-live-${id}`);
  await expect(live).toBeVisible();
  // Every code cell is there from the start (papermill may add a parameters cell).
  const codeCells = live.locator('.jp-k8s-LiveCell.jp-mod-code');
  await expect(codeCells.first()).toBeVisible();
  const total = await codeCells.count();
  expect(total).toBeGreaterThanOrEqual(CELLS);

  // Follow the row (k and its first line) and the live view until the job ends.
  const ks: number[] = [];
  const lines = new Set<string>();
  let shot = false;
  const start = Date.now();
  while (Date.now() - start < 120_000) {
    const text = (await chip.textContent()) ?? '';
    const m = /cell (\d+)\/\d+/.exec(text);
    if (m && ks[ks.length - 1] !== Number(m[1])) {
      ks.push(Number(m[1]));
    }
    const line = await jobRow.locator('.jp-k8s-JobRow-message').textContent();
    if (text.startsWith('Running') && line) {
      lines.add(line);
    }
    if (
      !shot &&
      (await live.locator('.jp-k8s-LiveCell.jp-mod-done').count()) >= 3 &&
      (await live.locator('.jp-k8s-LiveCell.jp-mod-running').count()) === 1
    ) {
      await live.screenshot({ path: path.join(IMAGES, 'live-view.png') });
      shot = true;
    }
    if (/^(Succeeded|Failed|Cancelled)/.test(text)) {
      break;
    }
    await page.waitForTimeout(100);
  }
  console.log(`row: cells ${ks.join(' → ')}; lines ${[...lines].join(' | ')}`);
  await expect(chip).toHaveText('Succeeded');
  // k only moves forward, and was seen at several values on the way.
  expect([...ks].sort((a, b) => a - b)).toEqual(ks);
  expect(new Set(ks).size).toBeGreaterThanOrEqual(3);
  // The running cell's first line, as the notebook has it.
  const steps = [...lines].filter(l => /^# step \d of 5$/.test(l));
  expect(steps.length).toBeGreaterThanOrEqual(2);

  // Every cell's output in the live view, in order; the view settles on the end.
  await expect(live.locator('.jp-k8s-LiveCell.jp-mod-done')).toHaveCount(total);
  await expect(live.locator('.jp-k8s-LiveView-status')).toContainText(
    'Succeeded'
  );
  const outputs = await live
    .locator('.jp-k8s-LiveCell.jp-mod-code .jp-OutputArea-output')
    .allTextContents();
  expect(outputs.map(t => /LIVE (\d)/.exec(t)?.[1])).toEqual([
    '1',
    '2',
    '3',
    '4',
    '5'
  ]);
  expect(shot).toBe(true);

  const seen = await page.evaluate(
    () =>
      (
        window as unknown as {
          liveSeen: Record<string, { pod: number; shown: number }>;
        }
      ).liveSeen
  );
  // Only cells that ended after the view opened measure the latency (the others were
  // already there when it opened).
  const latencies = Object.entries(seen)
    .filter(([, s]) => s.pod > opened)
    .map(([, s]) => s.shown - s.pod)
    .sort((a, b) => a - b);
  console.log(`live latencies (ms): ${latencies.map(Math.round).join(', ')}`);
  expect(latencies.length).toBeGreaterThanOrEqual(2);
  const p50 = latencies[Math.floor((latencies.length - 1) / 2)];
  expect(p50).toBeGreaterThan(0);
  saveTiming('live_view_cell_to_browser_ms', {
    p50: Math.round(p50),
    max: Math.round(latencies[latencies.length - 1]),
    samples: latencies.length
  });
});
