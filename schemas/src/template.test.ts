import { describe, expect, it } from 'vitest';
import { TemplateError, checkTemplate, parseTemplate, renderConfig, renderTemplate } from './template.ts';

const edge = {
  metadata: { name: 'edge-1', namespace: 'prod', labels: { region: 'eu-west', 'haproxyhq.io/role': 'edge' } },
  spec: { values: { maxconn: '4000' } },
};

describe('templates', () => {
  it('fills name, namespace, labels (prefixed keys too) and values', () => {
    const text = 'global\n  maxconn {{ values.maxconn }}\n# {{name}}.{{ namespace }} {{ labels.region }} {{ labels.haproxyhq.io/role }}\n';
    expect(renderTemplate(text, edge)).toBe('global\n  maxconn 4000\n# edge-1.prod eu-west edge\n');
  });

  it('uses the default only when the value is missing, with escaped quotes', () => {
    expect(renderTemplate('{{ labels.zone | default "a \\"b\\"" }}/{{ labels.region | default "x" }}', edge)).toBe('a "b"/eu-west');
  });

  it('names the file, line, column and the missing key of the instance', () => {
    const e = (() => {
      try {
        renderTemplate('global\n  x {{ labels.zone }}\n', edge, 'maps/a.map');
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(TemplateError);
    expect((e as TemplateError).message).toBe('maps/a.map:2:5: instance "edge-1" has no label "zone" and the placeholder has no | default');
  });

  it('rejects malformed placeholders with their position', () => {
    expect(() => parseTemplate('a\nb {{ labels }}\n')).toThrow('haproxy.cfg:2:3: cannot parse "{{ labels }}"');
    expect(() => parseTemplate('x {{ name\n}}')).toThrow('haproxy.cfg:1:3: unclosed "{{"');
    expect(() => parseTemplate('{{ env.HOME }}')).toThrow(/expected name, namespace, labels.KEY or values.KEY/);
  });

  it('refuses a value with a line break, which could inject config sections', () => {
    expect(() => renderTemplate('{{ values.x }}', { metadata: { name: 'a' }, spec: { values: { x: 'ok\nbackend evil' } } })).toThrow(/line break/);
  });

  it('leaves untemplated configs byte for byte, and renders files of templated ones', () => {
    const spec = { config: 'x {{ nonsense', files: [{ path: 'm.map', content: 'k {{ name }}\n' }] };
    expect(renderConfig(spec, edge)).toEqual({ config: spec.config, files: spec.files });
    expect(renderConfig({ ...spec, config: 'c', template: true }, edge).files[0]!.content).toBe('k edge-1\n');
  });

  it('checkTemplate reports each bad field of a templated spec', () => {
    const errors = checkTemplate({ template: true, config: '{{ oops }}', files: [{ path: 'a.map', content: 'ok' }, { path: 'b.map', content: '{{' }] });
    expect(errors.map((e) => e.field)).toEqual(['spec.config', 'spec.files[1].content']);
    expect(checkTemplate({ config: '{{ oops }}' })).toEqual([]);
  });
});
