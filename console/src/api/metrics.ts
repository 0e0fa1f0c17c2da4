/** The server's bounded stats history of one instance (GET .../haproxyinstances/NAME/metrics). */
import type { InstanceMetrics } from '@haproxyhq/schemas';
import { api, objectPath, query } from './client.ts';

export function fetchMetrics(namespace: string, name: string, sinceSeconds = 3600, signal?: AbortSignal): Promise<InstanceMetrics> {
  return api<InstanceMetrics>(`${objectPath('haproxyinstances', namespace, name)}/metrics${query({ sinceSeconds })}`, { signal });
}

/**
 * Align several series sampled at different times onto one time axis (what a multi-line chart
 * needs): the union of timestamps, null where a series has no sample.
 */
export function alignSeries(series: { t: number[]; values: (number | null)[] }[]): { t: number[]; values: (number | null)[][] } {
  const t = [...new Set(series.flatMap((s) => s.t))].sort((a, b) => a - b);
  const index = new Map(t.map((v, i) => [v, i]));
  const values = series.map((s) => {
    const out: (number | null)[] = new Array(t.length).fill(null);
    s.t.forEach((ts, i) => (out[index.get(ts)!] = s.values[i] ?? null));
    return out;
  });
  return { t, values };
}
