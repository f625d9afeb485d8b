/**
 * Browser tests of the JupyterLab extension, run by `run.sh` (which starts the local
 * cluster and JupyterLab, and sets K8S_UI_URL and K8S_UI_TOKEN). Debian's Chromium, no
 * browser download. Two projects, one per phase of run.sh: `firstrun` (JupyterLab started
 * by scripts/lab with no configuration) and `main` (JupyterLab with the test profiles).
 */
import { defineConfig } from '@playwright/test';

export default defineConfig({
  testDir: './tests',
  timeout: 180_000,
  expect: { timeout: 30_000 },
  workers: 1,
  retries: 0,
  reporter: [['list']],
  outputDir: './test-results',
  projects: [
    { name: 'firstrun', testMatch: 'firstrun.spec.ts' },
    { name: 'main', testIgnore: 'firstrun.spec.ts' }
  ],
  use: {
    baseURL: process.env.K8S_UI_URL ?? 'http://127.0.0.1:8899',
    viewport: { width: 1280, height: 800 },
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run'
      ]
    },
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure'
  }
});
