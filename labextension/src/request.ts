import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { API_NAMESPACE } from './tokens';

/**
 * An error answered by the jupyter-k8s server extension.
 *
 * `message` is the server's message (meant for a person), `reason` its short machine-readable
 * reason (e.g. `Unreachable`, `Forbidden`, `Invalid`), `field` the request field at fault
 * when the server names one (e.g. `image`, `parameters`, `env.HOME`).
 */
export class APIError extends ServerConnection.ResponseError {
  constructor(
    response: Response,
    message: string,
    readonly reason: string = '',
    readonly field: string | null = null
  ) {
    super(response, message);
    this.name = 'APIError';
  }
}

/**
 * The last answer of each GET, by URL, with its ETag. The server (tornado) tags every GET
 * answer with a hash of its body and answers `304 Not Modified` to an `If-None-Match` that
 * matches, so a poll whose answer did not change costs no body; `ServerConnection` asks
 * with `cache: 'no-store'`, so the browser's HTTP cache plays no part and this map does the
 * revalidation. The text is kept, not the parsed value, so no caller shares an object.
 */
const answers = new Map<string, { etag: string; text: string }>();

/** The most GET answers kept for revalidation (a few lists and the open details). */
const MAX_ANSWERS = 50;

function remember(url: string, etag: string, text: string): void {
  answers.delete(url);
  answers.set(url, { etag, text });
  if (answers.size > MAX_ANSWERS) {
    // Maps iterate in insertion order: drop the least recently stored.
    answers.delete(answers.keys().next().value as string);
  }
}

/**
 * Call the jupyter-k8s REST API.
 *
 * @param endPoint path under `{base_url}/jupyter-k8s/`
 * @param init the fetch options (method, body, ...)
 * @returns the decoded JSON answer
 * @throws APIError with the server's message when the answer is not a success
 */
export async function requestAPI<T>(
  endPoint = '',
  init: RequestInit = {}
): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, API_NAMESPACE, endPoint);
  const isGet = (init.method ?? 'GET').toUpperCase() === 'GET';
  const known = isGet ? answers.get(url) : undefined;
  if (known) {
    const headers = new Headers(init.headers);
    headers.set('If-None-Match', known.etag);
    init = { ...init, headers };
  }

  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }

  let text: string;
  if (response.status === 304 && known) {
    text = known.text;
  } else {
    text = await response.text();
    const etag = isGet && response.ok ? response.headers.get('ETag') : null;
    if (etag) {
      remember(url, etag, text);
    } else if (isGet) {
      answers.delete(url);
    }
  }
  if (!response.ok && !(response.status === 304 && known)) {
    throw responseError(response, text);
  }
  return parseJSON(text) as T;
}

/** The JSON of an answer's body, or null when it is empty or not JSON. */
function parseJSON(text: string): any {
  if (text.length === 0) {
    return null;
  }
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/**
 * The error of an answer that is not a success, from its body's text: the server's JSON
 * `message` (else the body's first 500 characters, else the status line), `reason` and
 * `field`. The one place that reads the server's errors (requests and log streams alike).
 */
export function responseError(response: Response, text: string): APIError {
  const data = parseJSON(text);
  const message =
    (data && typeof data.message === 'string' && data.message) ||
    text.trim().slice(0, 500) ||
    `${response.status} ${response.statusText}`;
  const reason = (data && typeof data.reason === 'string' && data.reason) || '';
  const field = (data && typeof data.field === 'string' && data.field) || null;
  return new APIError(response, message, reason, field);
}
