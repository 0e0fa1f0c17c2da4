import { describe, expect, it } from 'vitest';
import { ConfigError, USAGE, parseConfig, type ServerConfig } from './config.ts';

const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => parseConfig(argv, env) as ServerConfig;

describe('--metrics-history-minutes', () => {
  it('keeps an hour by default, takes the flag over HQ_METRICS_HISTORY_MINUTES, and 0 turns it off', () => {
    expect(parse([]).metricsHistoryMinutes).toBe(60);
    expect(parse([], { HQ_METRICS_HISTORY_MINUTES: '15' }).metricsHistoryMinutes).toBe(15);
    expect(parse(['--metrics-history-minutes', '1440'], { HQ_METRICS_HISTORY_MINUTES: '15' }).metricsHistoryMinutes).toBe(1440);
    expect(parse(['--metrics-history-minutes', '0']).metricsHistoryMinutes).toBe(0);
    expect(USAGE).toContain('--metrics-history-minutes N');
  });

  it('refuses anything but a whole number of minutes from 0 to 1440, saying the range', () => {
    for (const bad of ['1441', '-1', '1.5', 'abc', '', ' 5']) {
      expect(() => parse(['--metrics-history-minutes', bad]), bad).toThrow(ConfigError);
      expect(() => parse([], { HQ_METRICS_HISTORY_MINUTES: bad }), bad).toThrow(/from 0 \(no history\) to 1440/);
    }
  });
});

describe('--audit-retention-days', () => {
  it('keeps 30 days by default and takes the flag over HQ_AUDIT_RETENTION_DAYS', () => {
    expect(parse([]).auditRetentionDays).toBe(30);
    expect(parse([], { HQ_AUDIT_RETENTION_DAYS: '7' }).auditRetentionDays).toBe(7);
    expect(parse(['--audit-retention-days', '365'], { HQ_AUDIT_RETENTION_DAYS: '7' }).auditRetentionDays).toBe(365);
    expect(USAGE).toContain('--audit-retention-days N');
  });

  it('refuses anything but a whole number of days from 1 to 3650, saying the range', () => {
    for (const bad of ['0', '3651', '-1', '1.5', 'abc', '']) {
      expect(() => parse([`--audit-retention-days=${bad}`]), bad).toThrow(/from 1 to 3650/);
      expect(() => parse([], { HQ_AUDIT_RETENTION_DAYS: bad }), bad).toThrow(/from 1 to 3650/);
    }
  });
});

describe('--session-idle-minutes and --session-max-hours', () => {
  it('end console sessions after 30 idle minutes and 12 hours by default; flags win over HQ_SESSION_*', () => {
    expect(parse([])).toMatchObject({ sessionIdleMinutes: 30, sessionMaxHours: 12 });
    expect(parse([], { HQ_SESSION_IDLE_MINUTES: '10', HQ_SESSION_MAX_HOURS: '8' })).toMatchObject({ sessionIdleMinutes: 10, sessionMaxHours: 8 });
    expect(parse(['--session-idle-minutes', '5', '--session-max-hours=1'], { HQ_SESSION_IDLE_MINUTES: '10' })).toMatchObject({ sessionIdleMinutes: 5, sessionMaxHours: 1 });
    expect(USAGE).toContain('--session-idle-minutes N');
    expect(USAGE).toContain('--session-max-hours N');
  });

  it('refuses values outside their ranges, saying the range', () => {
    for (const bad of ['0', '1441', '-1', '1.5', 'x', '']) expect(() => parse([`--session-idle-minutes=${bad}`]), bad).toThrow(/from 1 to 1440/);
    for (const bad of ['0', '721', '2.5', 'x']) expect(() => parse([], { HQ_SESSION_MAX_HOURS: bad }), bad).toThrow(/from 1 to 720/);
  });
});

describe('--audit-omit', () => {
  it('records everything by default; takes resource plurals, refusing unknown ones', () => {
    expect(parse([]).auditOmit).toEqual([]);
    expect(parse(['--audit-omit', 'leases, events']).auditOmit).toEqual(['leases', 'events']);
    expect(parse([], { HQ_AUDIT_OMIT: 'leases' }).auditOmit).toEqual(['leases']);
    expect(() => parse(['--audit-omit', 'lease'])).toThrow(/"lease" is not a resource; use plurals: haproxyinstances, /);
  });
});

describe('--compaction-interval', () => {
  it('keeps 5 minutes by default; 0 (history by --history-revisions alone) only on the embedded store', () => {
    expect(parse([]).compactionIntervalSeconds).toBe(300);
    expect(parse(['--compaction-interval', '0']).compactionIntervalSeconds).toBe(0);
    expect(parse([], { HQ_COMPACTION_INTERVAL: '60' }).compactionIntervalSeconds).toBe(60);
    expect(() => parse(['--storage', 'etcd', '--compaction-interval', '0'])).toThrow(/at least 1 with etcd/);
    expect(() => parse(['--compaction-interval=-1'])).toThrow(/whole number of seconds, at least 0/);
    expect(() => parse(['--compaction-interval', '1.5'])).toThrow(ConfigError);
  });
});

describe('--tls-groups', () => {
  it("leaves OpenSSL's default unless given, and takes the flag over HQ_TLS_GROUPS", () => {
    expect(parse([]).tlsGroups).toBeUndefined();
    expect(parse([], { HQ_TLS_GROUPS: 'X25519' }).tlsGroups).toBe('X25519');
    expect(parse(['--tls-groups', 'X25519:P-256'], { HQ_TLS_GROUPS: 'X25519' }).tlsGroups).toBe('X25519:P-256');
    expect(parse(['--tls-groups', 'X25519MLKEM768:X25519']).tlsGroups).toBe('X25519MLKEM768:X25519');
    expect(USAGE).toContain('--tls-groups LIST');
  });

  it('names the group OpenSSL does not know, and refuses a malformed list', () => {
    expect(() => parse(['--tls-groups', 'X25519:P-999'])).toThrow(/does not know the group "P-999"/);
    for (const bad of ['', 'X25519::P-256', 'X25519,P-256', 'X25519 P-256']) {
      expect(() => parse(['--tls-groups', bad]), bad).toThrow(/expected colon-separated group names/);
    }
  });
});
