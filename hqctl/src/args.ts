/**
 * A small command-line parser with kubectl's (pflag's) habits: flags anywhere among the
 * positionals, `--flag value`, `--flag=value`, `-n value`, `-nvalue` / `-oyaml`, repeatable
 * string flags (`-f a -f b`), `--bool=false`, and `--` to end the flags.
 */
import { CliError } from './errors.ts';

export interface FlagSpec {
  name: string;
  short?: string;
  type: 'bool' | 'string' | 'strings';
  /** One line for --help; the value's placeholder is the first word in capitals, if any. */
  help: string;
  default?: string | boolean;
}

export type FlagValues = Record<string, string | boolean | string[] | undefined>;

export interface ParsedArgs {
  positionals: string[];
  flags: FlagValues;
}

/** Flags every command takes: where the server is, who we are, which namespace. */
export const GLOBAL_FLAGS: FlagSpec[] = [
  { name: 'kubeconfig', type: 'string', help: 'KUBECONFIG file to use (env HQ_KUBECONFIG, then KUBECONFIG)' },
  { name: 'server', short: 's', type: 'string', help: 'SERVER URL, e.g. https://127.0.0.1:8080 (env HQ_SERVER)' },
  { name: 'token', type: 'string', help: 'bearer TOKEN (env HQ_TOKEN)' },
  { name: 'certificate-authority', type: 'string', help: 'FILE with the PEM CA that signed the server certificate' },
  { name: 'insecure-skip-tls-verify', type: 'bool', help: 'do not verify the server certificate (insecure)' },
  { name: 'namespace', short: 'n', type: 'string', help: 'NAMESPACE to act in (env HQ_NAMESPACE; default: the context\'s, else "default")' },
  { name: 'help', short: 'h', type: 'bool', help: 'show help for the command' },
];

function parseBool(name: string, v: string): boolean {
  if (/^(true|1|t|yes)$/i.test(v)) return true;
  if (/^(false|0|f|no)$/i.test(v)) return false;
  throw new CliError(`invalid argument "${v}" for "--${name}" flag: expected true or false`);
}

/** Parse argv (without the program and verb) against the given flags. */
export function parseArgs(argv: string[], specs: FlagSpec[], verb: string): ParsedArgs {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  const flags: FlagValues = {};
  for (const s of specs) if (s.default !== undefined) flags[s.name] = s.default;
  const positionals: string[] = [];
  const hint = `See 'hqctl ${verb} --help' for usage.`;

  const set = (spec: FlagSpec, value: string | undefined, display: string) => {
    if (spec.type === 'bool') {
      flags[spec.name] = value === undefined ? true : parseBool(spec.name, value);
      return;
    }
    if (value === undefined) throw new CliError(`flag needs an argument: ${display}\n${hint}`);
    if (spec.type === 'strings') {
      const prev = flags[spec.name];
      flags[spec.name] = [...(Array.isArray(prev) ? prev : []), value];
    } else {
      flags[spec.name] = value;
    }
  };

  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = a.slice(2, eq === -1 ? undefined : eq);
      const spec = byName.get(name);
      if (!spec) throw new CliError(`unknown flag: --${name}\n${hint}`);
      let value = eq === -1 ? undefined : a.slice(eq + 1);
      if (value === undefined && spec.type !== 'bool') {
        if (i + 1 >= argv.length) throw new CliError(`flag needs an argument: --${name}\n${hint}`);
        value = argv[++i];
      }
      set(spec, value, `--${name}`);
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      const letter = a[1]!;
      const spec = byShort.get(letter);
      if (!spec) throw new CliError(`unknown shorthand flag: '${letter}' in ${a}\n${hint}`);
      let rest = a.slice(2);
      if (rest.startsWith('=')) rest = rest.slice(1);
      if (spec.type === 'bool') {
        set(spec, rest === '' ? undefined : rest, `-${letter}`);
        continue;
      }
      let value: string | undefined = rest === '' ? undefined : rest;
      if (value === undefined) {
        if (i + 1 >= argv.length) throw new CliError(`flag needs an argument: '${letter}' in -${letter}\n${hint}`);
        value = argv[++i];
      }
      set(spec, value, `-${letter}`);
      continue;
    }
    positionals.push(a);
  }
  return { positionals, flags };
}

/**
 * The verb: the first argument that is neither a global flag nor a global flag's value
 * (`hqctl -n prod get hi` is `get`).
 */
export function findVerb(argv: string[]): { verb: string | undefined; rest: string[] } {
  const valued = new Set(GLOBAL_FLAGS.filter((f) => f.type !== 'bool').flatMap((f) => [`--${f.name}`, ...(f.short ? [`-${f.short}`] : [])]));
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') break;
    if (valued.has(a)) {
      i++;
      continue;
    }
    if (a.startsWith('-')) continue;
    return { verb: a, rest: [...argv.slice(0, i), ...argv.slice(i + 1)] };
  }
  return { verb: undefined, rest: argv };
}

export const str = (flags: FlagValues, name: string): string | undefined => {
  const v = flags[name];
  return typeof v === 'string' ? v : undefined;
};
export const bool = (flags: FlagValues, name: string): boolean => flags[name] === true;
export const strs = (flags: FlagValues, name: string): string[] => {
  const v = flags[name];
  return Array.isArray(v) ? v : [];
};

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** kubectl's durations: `30s`, `5m`, `1h30m`, `500ms`, or `0` (no limit). Returns milliseconds. */
export function parseDuration(text: string, flag: string): number {
  if (text === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  while (pos < text.length) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m) break;
    total += Number(m[1]) * (UNIT_MS[m[2]!] ?? 0);
    pos = re.lastIndex;
  }
  if (pos === 0 || pos !== text.length) {
    throw new CliError(`invalid argument "${text}" for "--${flag}" flag: expected a duration such as 30s, 5m or 1h30m (0 for no limit)`);
  }
  return total;
}
