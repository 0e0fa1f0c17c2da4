import { describe, expect, it } from 'vitest';
import { EditorState } from '@codemirror/state';
import { foldable, getIndentation, indentUnit } from '@codemirror/language';
import { detectIndentUnit, haproxy, haproxyLanguage } from './haproxy-language.ts';

/** Every highlighted token of `text` as [text, style]; unstyled text is left out. */
function tokens(text: string): [string, string][] {
  const tree = haproxyLanguage.parser.parse(text);
  const out: [string, string][] = [];
  tree.iterate({
    enter(node) {
      if (node.type.isTop) return;
      out.push([text.slice(node.from, node.to), node.type.name]);
    },
  });
  return out;
}

const styleOf = (text: string, word: string) => tokens(text).find(([t]) => t === word)?.[1];

describe('haproxy language', () => {
  it('highlights comments, section headers and their names', () => {
    const t = tokens('# edge config\nfrontend www # public\n');
    expect(t).toEqual([
      ['# edge config', 'comment'],
      ['frontend', 'heading'],
      ['www', 'variableName.definition'],
      ['# public', 'comment'],
    ]);
  });

  it('highlights keywords at line start, multi-word keywords whole, and rule actions', () => {
    const text = 'backend app\n    balance roundrobin\n    option httplog\n    no option redispatch\n    http-request set-header X-A b\n    tcp-request content accept\n';
    expect(styleOf(text, 'balance')).toBe('keyword');
    expect(styleOf(text, 'roundrobin')).toBeUndefined();
    expect(styleOf(text, 'httplog')).toBe('keyword');
    expect(styleOf(text, 'redispatch')).toBe('keyword');
    expect(styleOf(text, 'set-header')).toBe('propertyName');
    expect(styleOf(text, 'content')).toBe('keyword');
    expect(styleOf(text, 'accept')).toBe('propertyName');
  });

  it('highlights durations, numbers and addresses (IPv4, IPv6, wildcard, with ports)', () => {
    const text = 'defaults\n  timeout client 30s\n  maxconn 4000\nfrontend f\n  bind 10.0.0.1:443 ssl crt /etc/x.pem\n  bind :::8080 v4v6\n  bind *:80\n  bind [2001:db8::1]:81\n';
    expect(styleOf(text, '30s')).toBe('number');
    expect(styleOf(text, '4000')).toBe('number');
    expect(styleOf(text, '10.0.0.1:443')).toBe('url');
    expect(styleOf(text, ':::8080')).toBe('url');
    expect(styleOf(text, '*:80')).toBe('url');
    expect(styleOf(text, '[2001:db8::1]:81')).toBe('url');
    expect(styleOf(text, 'ssl')).toBe('attributeName');
    expect(styleOf(text, 'v4v6')).toBe('attributeName');
  });

  it('highlights server names, their addresses and options', () => {
    const text = 'backend app\n  server s1 192.168.1.10:8080 check inter 2s weight 10\n';
    expect(styleOf(text, 's1')).toBe('variableName.definition');
    expect(styleOf(text, '192.168.1.10:8080')).toBe('url');
    expect(styleOf(text, 'check')).toBe('attributeName');
    expect(styleOf(text, '2s')).toBe('number');
  });

  it('highlights conditions: if/unless, ACL names, anonymous ACL braces and fetches', () => {
    const text = 'frontend f\n  acl is_api path_beg /api\n  use_backend api if is_api !is_admin || { src 10.0.0.0/8 }\n';
    expect(styleOf(text, 'is_api')).toBe('variableName.definition');
    expect(styleOf(text, 'path_beg')).toBe('variableName.function');
    expect(styleOf(text, 'api')).toBe('labelName');
    expect(styleOf(text, 'if')).toBe('controlKeyword');
    expect(styleOf(text, '!is_admin')).toBe('variableName');
    expect(styleOf(text, '||')).toBe('logicOperator');
    expect(styleOf(text, '{')).toBe('brace');
    expect(styleOf(text, 'src')).toBe('variableName.function');
    expect(styleOf(text, '}')).toBe('brace');
  });

  it('highlights strings, %[...] samples inside and outside them, and ${ENV} variables', () => {
    const text = 'frontend f\n  http-request set-header X-Id "%[req.hdr(host),lower]-${NODE}" if TRUE\n  http-request set-var(txn.x) %[src]\n';
    const t = tokens(text);
    expect(t).toContainEqual(['"', 'string']);
    expect(t).toContainEqual(['%[req.hdr(host),lower]', 'string.special']);
    expect(t).toContainEqual(['${NODE}', 'macroName']);
    expect(t).toContainEqual(['%[src]', 'string.special']);
  });

  it('reads a lone % or $ inside a string as text, an escaped quote as an escape, and ends an unclosed quote with its line', () => {
    const text = 'frontend f\n  http-request return status 200 string "100% $ \\"off\\"" content-type text/plain\n  http-request deny "open\n  maxconn 10\n';
    const t = tokens(text);
    expect(t.filter(([, s]) => s === 'string').map(([x]) => x).join('')).toBe('"100% $ off"' + '"open');
    expect(t.filter(([, s]) => s === 'escape').map(([x]) => x)).toEqual(['\\"', '\\"']);
    expect(styleOf(text, 'maxconn')).toBe('keyword');
  });

  it('highlights template placeholders distinctly, even inside quotes', () => {
    const text = 'backend app\n  server {{ name }} {{ values.addr | default "127.0.0.1:80" }} check\n  http-request set-header X-Env \'{{ labels.env }}\'\n';
    const t = tokens(text);
    expect(t).toContainEqual(['{{ name }}', 'template']);
    expect(t).toContainEqual(['{{ values.addr | default "127.0.0.1:80" }}', 'template']);
    expect(t).toContainEqual(['{{ labels.env }}', 'template']);
  });

  it("indents like the text around: one unit under a header, like the keyword above, section keywords at 0", () => {
    const at = (doc: string, unit = '    ') => {
      const state = EditorState.create({ doc, extensions: [haproxy(), indentUnit.of(unit)] });
      return getIndentation(state, state.doc.line(state.doc.lines).from);
    };
    expect(at('global\n')).toBe(4);
    // A tab is tabSize (4) columns; with a tab unit CodeMirror writes it back as a tab.
    expect(at('global\n\tdaemon\n', '\t')).toBe(4);
    expect(at('backend app\n  balance first\n  # comment\n')).toBe(2);
    expect(at('backend app\n  balance first\nbackend')).toBe(0);
    expect(at('')).toBe(0);
  });

  it('detects the indentation unit a config uses', () => {
    expect(detectIndentUnit('global\n\tdaemon\n')).toBe('\t');
    expect(detectIndentUnit('# c\nglobal\n  daemon\n')).toBe('  ');
    expect(detectIndentUnit('global\n')).toBe('    ');
  });

  it('folds a section from its header to its last line', () => {
    const doc = 'global\n  maxconn 10\n\nbackend app\n  server a 1.2.3.4:80\n';
    const state = EditorState.create({ doc, extensions: [haproxy()] });
    const header = state.doc.line(1);
    expect(foldable(state, header.from, header.to)).toEqual({ from: header.to, to: state.doc.line(2).to });
  });
});
