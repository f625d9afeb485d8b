import { IJobInfo } from '../src/tokens';

/** A job as the server answers it, with overrides. */
export function job(overrides: Partial<IJobInfo> = {}): IJobInfo {
  return {
    id: 'nb-report-abc123',
    notebook: 'reports/report.ipynb',
    owner: 'me',
    profile: 'cpu',
    image: 'python:3.11-slim',
    parameters: {},
    phase: 'Pending',
    reason: null,
    message: null,
    created: '2026-01-01T10:00:00Z',
    started: null,
    finished: null,
    duration_seconds: null,
    current_cell: null,
    total_cells: null,
    output_path: 'reports/report.abc123.ipynb',
    output_state: 'pending',
    output_error: null,
    ...overrides
  };
}
