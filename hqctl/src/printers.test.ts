import { describe, expect, it } from 'vitest';
import type { Table } from './client.ts';
import { humanDuration } from '@haproxyhq/schemas';
import { cellText, columns, configText, fields, tableHeader, tableRow } from './printers.ts';

const table: Table = {
  kind: 'Table',
  apiVersion: 'meta.k8s.io/v1',
  columnDefinitions: [
    { name: 'Name', type: 'string', priority: 0 },
    { name: 'Ready', type: 'string', priority: 0 },
    { name: 'Desired', type: 'string', priority: 1 },
  ],
  rows: [{ cells: ['edge-1', 'True', null], object: { metadata: { name: 'edge-1', namespace: 'prod', labels: { role: 'edge' } } } }],
};

describe('printers', () => {
  it('aligns columns with three spaces and leaves the last one unpadded', () => {
    expect(columns([['NAME', 'READY'], ['edge-10', 'True']])).toBe('NAME      READY\nedge-10   True\n');
  });

  it('shows priority-1 columns only when wide, and adds NAMESPACE and LABELS on request', () => {
    const opts = { wide: false, withNamespace: true, showLabels: true };
    expect(tableHeader(table, opts)).toEqual(['NAMESPACE', 'NAME', 'READY', 'LABELS']);
    expect(tableRow(table, table.rows[0]!, opts)).toEqual(['prod', 'edge-1', 'True', 'role=edge']);
    expect(tableRow(table, table.rows[0]!, { wide: true, withNamespace: false, showLabels: false })).toEqual(['edge-1', 'True', '<none>']);
  });

  it('prints cells and durations as kubectl does', () => {
    expect([null, '', 3, true, 'x'].map(cellText)).toEqual(['<none>', '<none>', '3', 'true', 'x']);
    expect([45_000, 200_000, 3_600_000 * 5, 86_400_000 * 3].map(humanDuration)).toEqual(['45s', '3m20s', '5h', '3d']);
  });

  it('puts each file under a header after the config', () => {
    expect(configText('global', [{ path: 'maps/a.map', content: 'k v' }])).toBe('global\n# --- maps/a.map ---\nk v\n');
  });

  it('aligns describe fields and continues multi-line values under the value column', () => {
    expect(fields([['Name', 'web'], ['Labels', 'a=b\nc=d'], ['Skipped', undefined]])).toBe('Name:    web\nLabels:  a=b\n         c=d\n');
  });
});
