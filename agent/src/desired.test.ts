import { describe, expect, it } from 'vitest';
import { type ConfigRevision, type HAProxyInstance } from '@haproxyhq/schemas';
import { contentHash } from './apply/pipeline.ts';
import { desiredFor } from './desired.ts';

const revision = (spec: { config: string; template?: boolean; files?: { path: string; content: string }[] }): ConfigRevision => ({
  metadata: { name: 'web-2' },
  spec: { configName: 'web', revision: 2, contentHash: contentHash(spec), config: spec },
});
const instance: HAProxyInstance = { metadata: { name: 'edge-1', labels: { region: 'eu' } }, spec: { values: { port: '8081' } } };

describe('desiredFor', () => {
  it('renders a templated revision for this instance and hashes the rendered bytes', () => {
    const r = desiredFor(revision({ template: true, config: 'bind :{{ values.port }} # {{ name }}\n', files: [{ path: 'a.map', content: '{{ labels.region }}\n' }] }), instance);
    expect('desired' in r && r.desired).toEqual({
      revision: 'web-2',
      hash: contentHash({ config: 'bind :8081 # edge-1\n', files: [{ path: 'a.map', content: 'eu\n' }] }),
      config: 'bind :8081 # edge-1\n',
      files: [{ path: 'a.map', content: 'eu\n' }],
    });
  });

  it('passes an untemplated revision through byte for byte with its stored hash', () => {
    const rev = revision({ config: 'x {{ not a template\n' });
    const r = desiredFor(rev, instance);
    expect('desired' in r && r.desired).toMatchObject({ config: 'x {{ not a template\n', hash: rev.spec.contentHash });
  });

  it('rejects a value the instance lacks, naming file and line, and a corrupted revision', () => {
    const missing = desiredFor(revision({ template: true, config: 'a\n{{ labels.zone }}\n' }), instance);
    expect('rejected' in missing && missing.rejected.error).toMatchObject({ stage: 'render', line: 2, file: 'haproxy.cfg' });
    const rev = revision({ template: true, config: 'a' });
    rev.spec.config.config = 'b';
    const corrupted = desiredFor(rev, instance);
    expect('rejected' in corrupted && corrupted.rejected.error?.message).toMatch(/does not match its contentHash/);
  });

  it('refuses a config whose rendered runtime socket would listen on TCP, naming the line', () => {
    const withValue: HAProxyInstance = { ...instance, spec: { values: { sock: 'ipv4@0.0.0.0:9999' } } };
    const r = desiredFor(revision({ template: true, config: 'global\n    stats socket {{ values.sock }} level admin\n' }), withValue);
    expect('rejected' in r && r.rejected.error).toMatchObject({ stage: 'render', file: 'haproxy.cfg', line: 2, message: expect.stringMatching(/runtime API on the network/) });
    const plain = desiredFor(revision({ config: 'global\n    stats socket 127.0.0.1:9999\n' }), instance);
    expect('rejected' in plain && plain.rejected.error?.line).toBe(2);
    const unix = desiredFor(revision({ config: 'global\n    stats socket /run/haproxy/admin.sock mode 600\n' }), instance);
    expect('desired' in unix).toBe(true);
  });
});
