/**
 * kubectl's `-o jsonpath=TEMPLATE`. Text prints as it is; each `{...}` action is one of:
 * - a JSONPath against the current value: `.metadata.name`, `.items[*].metadata.name`,
 *   `.status.conditions[?(@.type=="Ready")].status`, `.metadata.labels['app.kubernetes.io/name']`
 *   (`$` for the root and `@` for the current value);
 * - `range PATH` ... `end`: the actions between, once for each result of PATH;
 * - a string literal: `{"\n"}`, `{"\t"}`.
 * As kubectl prints them: the results of one action separated by spaces, strings as they are,
 * anything else as JSON, and a missing key as nothing (kubectl's --allow-missing-template-keys,
 * which is on by default). No newline is added at the end. Recursive descent (`..`), slices and
 * negative indexes are not supported, and are refused by name.
 */
import { evaluateJsonPath } from '@haproxyhq/schemas';
import { CliError } from './errors.ts';

type Node = { text: string } | { literal: string } | { path: string } | { range: string; body: Node[] };

function fail(template: string, why: string): never {
  throw new CliError(`error parsing jsonpath ${template}: ${why}`);
}

/** Where the action opened at `open` closes: its `}` outside string literals. */
function closeOf(template: string, open: number): number {
  let quote = false;
  for (let i = open + 1; i < template.length; i++) {
    const c = template[i];
    if (quote && c === '\\') i++;
    else if (c === '"') quote = !quote;
    else if (c === '}' && !quote) return i;
  }
  return -1;
}

export function parseJsonPathTemplate(template: string): Node[] {
  const root: Node[] = [];
  const stack: Node[][] = [root];
  let i = 0;
  while (i < template.length) {
    const open = template.indexOf('{', i);
    const text = template.slice(i, open < 0 ? undefined : open);
    if (text) stack[stack.length - 1]!.push({ text });
    if (open < 0) break;
    const close = closeOf(template, open);
    if (close < 0) fail(template, `unclosed action at offset ${open}`);
    const action = template.slice(open + 1, close).trim();
    const body = stack[stack.length - 1]!;
    if (action === 'end') {
      if (stack.length === 1) fail(template, 'an {end} without a {range}');
      stack.pop();
    } else if (/^range\s/.test(action)) {
      const node = { range: checkedPath(template, action.slice(5).trim()), body: [] };
      body.push(node);
      stack.push(node.body);
    } else if (action.startsWith('"')) {
      try {
        body.push({ literal: JSON.parse(action) as string });
      } catch {
        fail(template, `bad string literal ${action}`);
      }
    } else {
      body.push({ path: checkedPath(template, action) });
    }
    i = close + 1;
  }
  if (stack.length > 1) fail(template, 'a {range} without an {end}');
  return root;
}

/** The JSONPath syntax the evaluator takes, as messages name it. */
export const SUPPORTED_JSONPATH = `.field, ['field'], [N], [*], [?(@.field=="value")]`;

/**
 * A JSONPath as the evaluator takes it (its `$` or `@` dropped: both are where it starts); an
 * Error saying why when it is not one the evaluator supports. `-o jsonpath` and --sort-by.
 */
export function evaluatorPath(action: string): string {
  const path = action.replace(/^[$@]/, '');
  if (path.includes('..')) throw new Error(`recursive descent (..) is not supported: ${action}`);
  try {
    evaluateJsonPath(null, path);
  } catch {
    throw new Error(`unsupported JSONPath ${action} (supported: ${SUPPORTED_JSONPATH})`);
  }
  return path;
}

/** evaluatorPath() for an action of `template`, failing with the template named. */
function checkedPath(template: string, action: string): string {
  if (action === '') fail(template, 'an empty action {}');
  try {
    return evaluatorPath(action);
  } catch (err) {
    fail(template, (err as Error).message);
  }
}

function show(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function render(nodes: Node[], current: unknown, root: unknown): string {
  let out = '';
  for (const n of nodes) {
    if ('text' in n) out += n.text;
    else if ('literal' in n) out += n.literal;
    else if ('path' in n) out += evaluateJsonPath(current, n.path).map(show).join(' ');
    else for (const item of evaluateJsonPath(current, n.range)) out += render(n.body, item, root);
  }
  return out;
}

/** Fill in `template` for `value` (an object, or a List with `items`). */
export function renderJsonPathTemplate(template: string, value: unknown): string {
  return render(parseJsonPathTemplate(template), value, value);
}
