/**
 * What an error tells the UI, whatever threw it (an `APIError` of request.ts, a network
 * error, a test's fake). Pure: no JupyterLab imports, so the models can use it under jest.
 */

/** An error's message for a person. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Whether an error is the server's 404 (its `response.status`). */
export function isNotFound(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { response?: { status?: number } }).response?.status === 404
  );
}
