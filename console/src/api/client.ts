/**
 * The console's one door to the API server: same-origin fetch with the bearer token or the
 * session cookie (and then, on writes, the session's CSRF token), and Kubernetes `Status` errors
 * turned into `ApiError`s whose message is the server's own.
 */
import type { Status } from '@haproxyhq/schemas';
import { CSRF_HEADER, session } from './session.ts';

export const GROUP_PATH = '/apis/haproxyhq.io/v1alpha1';

/** A failed call: the server's Status (code, reason, message, causes), or a network failure (code 0). */
export class ApiError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly status: Status | undefined;
  constructor(code: number, reason: string, message: string, status?: Status) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.reason = reason;
    this.status = status;
  }
}

function isStatus(v: unknown): v is Status {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'Status' && typeof (v as { code?: unknown }).code === 'number';
}

/** Turn a non-2xx response into an ApiError; 401 also signs the session out. */
export async function errorFrom(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (res.status === 401) session.expire();
  if (isStatus(body)) return new ApiError(body.code, body.reason ?? 'Unknown', body.message ?? `${res.status} ${res.statusText}`, body);
  return new ApiError(res.status, res.statusText || 'Unknown', `${res.status} ${res.statusText}${text ? `: ${text.slice(0, 300)}` : ''}`);
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  body?: unknown;
  /** Content type of a PATCH: merge patch unless told otherwise. */
  patchType?: 'application/merge-patch+json' | 'application/json-patch+json';
  signal?: AbortSignal;
  /** Use this token instead of the session's (the sign-in check). */
  token?: string;
}

/** Call the API; resolves with the parsed JSON body, rejects with ApiError. */
export async function api<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const token = opts.token ?? session.token();
  const headers: Record<string, string> = { accept: 'application/json' };
  const method = opts.method ?? 'GET';
  if (token) headers.authorization = `Bearer ${token}`;
  else if (method !== 'GET' && session.csrf()) headers[CSRF_HEADER] = session.csrf()!;
  let body: string | undefined;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['content-type'] = opts.method === 'PATCH' ? (opts.patchType ?? 'application/merge-patch+json') : 'application/json';
  }
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body, signal: opts.signal, cache: 'no-store', credentials: 'same-origin' });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError(0, 'NetworkError', `the API server at ${location.host} cannot be reached: ${(err as Error).message}`);
  }
  if (!res.ok) throw await errorFrom(res);
  return (await res.json()) as T;
}

/** The collection path of a resource: namespaced, or across all namespaces when `namespace` is empty. */
export function collectionPath(plural: string, namespace?: string): string {
  return namespace ? `${GROUP_PATH}/namespaces/${encodeURIComponent(namespace)}/${plural}` : `${GROUP_PATH}/${plural}`;
}

/** The path of one object. */
export function objectPath(plural: string, namespace: string, name: string): string {
  return `${collectionPath(plural, namespace)}/${encodeURIComponent(name)}`;
}

/** Query string from defined values only. */
export function query(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}
