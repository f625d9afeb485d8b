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

  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }

  const text = await response.text();
  let data: any = null;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }

  if (!response.ok) {
    const message =
      (data && typeof data.message === 'string' && data.message) ||
      text.trim().slice(0, 500) ||
      `${response.status} ${response.statusText}`;
    const reason =
      (data && typeof data.reason === 'string' && data.reason) || '';
    const field =
      (data && typeof data.field === 'string' && data.field) || null;
    throw new APIError(response, message, reason, field);
  }
  return data as T;
}
