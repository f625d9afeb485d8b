/**
 * Typed calls of the jupyter-k8s REST API (docs/openapi.yaml), on top of `requestAPI`.
 */

import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { requestAPI, responseError } from './request';
import {
  API_NAMESPACE,
  IJobEvent,
  IJobInfo,
  IJobList,
  IKernelStatus,
  ILiveNotebook,
  IProfile,
  IScheduleCreated,
  IScheduleInfo,
  IScheduleRequest,
  IScheduleUpdate,
  ISubmitRequest,
  ISubmitted,
  ISweepResults,
  JSONValue
} from './tokens';

/** The most jobs one `GET /jobs` answers (the server's limit). */
export const PAGE_LIMIT = 1000;

/** The most jobs the UI lists (pages of 1,000). */
export const MAX_JOBS = 10_000;

function jobPath(id: string, rest = ''): string {
  return `jobs/${encodeURIComponent(id)}${rest}`;
}

/** Every job of this user (newest first), page after page, up to `MAX_JOBS`. */
export async function listAllJobs(): Promise<IJobInfo[]> {
  const jobs: IJobInfo[] = [];
  for (let offset = 0; offset < MAX_JOBS; offset += PAGE_LIMIT) {
    const page = await requestAPI<IJobList>(
      `jobs?limit=${PAGE_LIMIT}&offset=${offset}`
    );
    jobs.push(...page.jobs);
    if (page.jobs.length < PAGE_LIMIT || jobs.length >= page.total) {
      break;
    }
  }
  return jobs;
}

/** The Pending and Running jobs (a small answer, asked for often). */
export async function listUnfinishedJobs(): Promise<IJobInfo[]> {
  const page = await requestAPI<IJobList>(
    `jobs?status=pending,running&limit=${PAGE_LIMIT}`
  );
  return page.jobs;
}

/** One job. */
export function getJob(id: string): Promise<IJobInfo> {
  return requestAPI<IJobInfo>(jobPath(id));
}

/** A job's events (the Job's and its pods'), oldest first. */
export async function getJobEvents(id: string): Promise<IJobEvent[]> {
  const answer = await requestAPI<{ events: IJobEvent[] }>(
    jobPath(id, '/events')
  );
  return answer.events;
}

/** What this user's remote kernels do now, those still starting included. */
export async function listKernelStatuses(): Promise<IKernelStatus[]> {
  const answer = await requestAPI<{ kernels: IKernelStatus[] }>('kernels');
  return answer.kernels;
}

/** Submit a notebook. */
export function submitJob(request: ISubmitRequest): Promise<ISubmitted> {
  return requestAPI<ISubmitted>('jobs', {
    method: 'POST',
    body: JSON.stringify(request)
  });
}

/** Run a job's notebook again, with its parameters or others. */
export function rerunJob(
  id: string,
  parameters?: Record<string, JSONValue> | null
): Promise<ISubmitted> {
  return requestAPI<ISubmitted>(jobPath(id, '/rerun'), {
    method: 'POST',
    body: JSON.stringify(parameters ? { parameters } : {})
  });
}

/**
 * Run again a sweep's parameter sets that did not succeed, as a new sweep of just those
 * (the sweep must have ended).
 */
export function rerunFailedIndexes(id: string): Promise<ISubmitted> {
  return requestAPI<ISubmitted>(jobPath(id, '/rerun'), {
    method: 'POST',
    body: JSON.stringify({ failed_only: true })
  });
}

/** A sweep's results table: one row per index, its parameters and recorded values. */
export function getSweepResults(id: string): Promise<ISweepResults> {
  return requestAPI<ISweepResults>(jobPath(id, '/results'));
}

/** A sweep's results table as CSV text (what `jupyter k8s results ID --csv` prints). */
export async function getSweepResultsCSV(id: string): Promise<string> {
  const settings = ServerConnection.makeSettings();
  const url =
    URLExt.join(settings.baseUrl, API_NAMESPACE, jobPath(id, '/results')) +
    '?format=csv';
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, {}, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  const text = await response.text();
  if (!response.ok) {
    throw responseError(response, text);
  }
  return text;
}

/** Cancel a job (its notebook is kept as far as it got). */
export function cancelJob(id: string): Promise<IJobInfo> {
  return requestAPI<IJobInfo>(jobPath(id, '/cancel'), { method: 'POST' });
}

/** Delete a job (the executed notebook stays). */
export async function deleteJob(id: string): Promise<void> {
  await requestAPI<unknown>(jobPath(id), { method: 'DELETE' });
}

/**
 * A running job's notebook so far (nbformat 4, each code cell's state in its metadata).
 * Asked for often while a live view shows: the ETag makes an unchanged answer a 304.
 */
export function getLiveNotebook(id: string): Promise<ILiveNotebook> {
  return requestAPI<ILiveNotebook>(jobPath(id, '/live'));
}

function schedulePath(id: string, rest = ''): string {
  return `schedules/${encodeURIComponent(id)}${rest}`;
}

/** This user's schedules, newest first. */
export async function listSchedules(): Promise<IScheduleInfo[]> {
  const answer = await requestAPI<{ schedules: IScheduleInfo[] }>('schedules');
  return answer.schedules;
}

/** Create a schedule (a submit request with a cron); a 400 names the field at fault. */
export function createSchedule(
  request: IScheduleRequest
): Promise<IScheduleCreated> {
  return requestAPI<IScheduleCreated>('schedules', {
    method: 'POST',
    body: JSON.stringify(request)
  });
}

/** Pause or resume a schedule, or change its cron or time zone. */
export function updateSchedule(
  id: string,
  change: IScheduleUpdate
): Promise<IScheduleInfo> {
  return requestAPI<IScheduleInfo>(schedulePath(id), {
    method: 'PATCH',
    body: JSON.stringify(change)
  });
}

/** Delete a schedule (its kept runs go with it; collected outputs stay). */
export async function deleteSchedule(id: string): Promise<void> {
  await requestAPI<unknown>(schedulePath(id), { method: 'DELETE' });
}

/** Run a schedule's notebook now (paused or not): the new run, an ordinary job. */
export async function runScheduleNow(id: string): Promise<IJobInfo> {
  const answer = await requestAPI<{ job: IJobInfo }>(schedulePath(id, '/run'), {
    method: 'POST'
  });
  return answer.job;
}

/** The resource profiles. */
export async function listProfiles(): Promise<IProfile[]> {
  const answer = await requestAPI<{ profiles: IProfile[] }>('profiles');
  return answer.profiles;
}

/**
 * Stream a job's log: `onText` gets each decoded chunk as it arrives, until the job ends
 * (`follow`), the server closes, or `signal` aborts. Resolves when the stream ends; rejects
 * with an APIError when the server answers an error (e.g. 404 before the pod started).
 *
 * `ServerConnection.makeRequest` adds the server's auth headers (token, XSRF) and hands back
 * the fetch Response unread, so its body can be read as a ReadableStream.
 */
export async function streamLogs(
  id: string,
  options: {
    follow: boolean;
    tail: number;
    signal: AbortSignal;
    onText: (text: string) => void;
  }
): Promise<void> {
  const settings = ServerConnection.makeSettings();
  const query = `?follow=${options.follow ? 1 : 0}&tail=${options.tail}`;
  const url =
    URLExt.join(settings.baseUrl, API_NAMESPACE, jobPath(id, '/logs')) + query;
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(
      url,
      { method: 'GET', signal: options.signal },
      settings
    );
  } catch (error) {
    if (options.signal.aborted) {
      return;
    }
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  if (!response.ok) {
    throw responseError(response, await response.text());
  }
  if (!response.body) {
    options.onText(await response.text());
    return;
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        break;
      }
      const text = decoder.decode(value, { stream: true });
      if (text) {
        options.onText(text);
      }
    }
    const rest = decoder.decode();
    if (rest) {
      options.onText(rest);
    }
  } catch (error) {
    if (!options.signal.aborted) {
      throw error;
    }
  } finally {
    reader.releaseLock();
  }
}
