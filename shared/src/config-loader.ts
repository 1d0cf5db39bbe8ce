import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import YAML from 'yaml';
import { type z } from 'zod';
import { ConfigError } from './errors';

export interface ConfigSources {
  /** Path of the YAML or JSON config file; optional when everything comes from the environment. */
  file?: string;
  /** The environment to read overrides from (main passes `process.env`; library code never reads it). */
  env?: Record<string, string | undefined>;
  /** Prefix of override variables, e.g. `CDC` reads `CDC__KAFKA__CLIENT_ID` into `kafka.clientId`. */
  envPrefix?: string;
}

/**
 * Loads one config file, applies environment overrides, and validates the result against `schema` once,
 * at start. Every problem is reported together, each naming its key path and the rule it breaks.
 *
 * Overrides: `<PREFIX>__A__B_C=value` sets `a.bC` (segments are SNAKE_CASE, keys camelCase). The value
 * is read as a YAML scalar or flow collection, so `5`, `true` and `[a, b]` get their types. A final
 * segment ending in `_FILE` reads the value from that file instead (for mounted secrets), trimmed. A
 * secret key (password, token, secret…) takes the variable's text verbatim.
 */
export function loadConfig<S extends z.ZodTypeAny>(schema: S, sources: ConfigSources): z.infer<S> {
  const raw = sources.file ? readConfigFile(sources.file) : {};
  const overrides = sources.env ? applyEnvOverrides(raw, sources.env, sources.envPrefix ?? 'CDC') : [];
  const result = schema.safeParse(raw);
  const origin = [sources.file ?? 'no file', ...overrides].join(', ');
  if (!result.success) throw new ConfigError(origin, describeIssues(result.error));
  return result.data as z.infer<S>;
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, [`(file): cannot read ${file}: ${(error as Error).message}`]);
  }
  const json = extname(file) === '.json';
  let parsed: unknown;
  try {
    parsed = json ? JSON.parse(text) : YAML.parse(text);
  } catch (error) {
    throw new ConfigError(file, [`(file): ${syntaxErrorOf(error, text, json)}`]);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError(file, ['(file): the top level must be a mapping of keys']);
  return parsed as Record<string, unknown>;
}

/**
 * Where a config file fails to parse, without its text: the parsers quote the offending line (YAML) or an
 * excerpt around it (V8's JSON), and that line may well be `password: …`.
 */
function syntaxErrorOf(error: unknown, text: string, json: boolean): string {
  const hidden = '(the text is not shown: it may hold a secret)';
  if (error instanceof YAML.YAMLError) {
    const at = error.linePos?.[0];
    return `YAML syntax error ${error.code}${at ? ` at line ${at.line}, column ${at.col}` : ''} ${hidden}`;
  }
  const position = json ? /position (\d+)/.exec((error as Error).message)?.[1] : undefined;
  if (position === undefined) return `${json ? 'JSON' : 'YAML'} syntax error ${hidden}`;
  const before = text.slice(0, Number(position)).split('\n');
  return `JSON syntax error at line ${before.length}, column ${before[before.length - 1]!.length + 1} ${hidden}`;
}

/** Applies overrides in place; returns the names of the variables used (never their values). */
function applyEnvOverrides(target: Record<string, unknown>, env: Record<string, string | undefined>, prefix: string): string[] {
  const used: string[] = [];
  const marker = `${prefix}__`;
  for (const name of Object.keys(env).sort()) {
    const value = env[name];
    if (!name.startsWith(marker) || value === undefined) continue;
    const segments = name.slice(marker.length).split('__');
    const last = segments[segments.length - 1] ?? '';
    const fromFile = last.endsWith('_FILE');
    if (fromFile) segments[segments.length - 1] = last.slice(0, -'_FILE'.length);
    const keys = segments.map(camelCase);
    // A secret is taken verbatim: read as YAML, `0123` would lose its zero and `pw #1` its tail.
    const secret = secretKeyPattern.test(keys[keys.length - 1] ?? '');
    const parsed = fromFile ? readSecretFile(name, value) : secret ? value : parseScalar(value);
    setPath(target, keys, parsed);
    used.push(name);
  }
  return used;
}

function readSecretFile(variable: string, file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (error) {
    throw new ConfigError(variable, [`${variable}: cannot read ${file}: ${(error as Error).message}`]);
  }
}

function parseScalar(value: string): unknown {
  try {
    return YAML.parse(value) ?? value;
  } catch {
    return value;
  }
}

function camelCase(segment: string): string {
  return segment.toLowerCase().replace(/_([a-z0-9])/g, (_, char: string) => char.toUpperCase());
}

function setPath(target: Record<string, unknown>, keys: string[], value: unknown): void {
  let node = target;
  keys.slice(0, -1).forEach((key) => {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  });
  node[keys[keys.length - 1] ?? ''] = value;
}

function describeIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const path = issue.path.join('.') || '(root)';
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => `${path === '(root)' ? key : `${path}.${key}`}: unknown key`).join('; ');
    }
    return `${path}: ${issue.message}`;
  });
}

const secretKeyPattern = /(password|secret|token|apikey|credentials|privatekey)/i;

/** A copy of `value` with every secret-looking key's value replaced, for printing a config safely. */
export function redactSecrets<T>(value: T): T {
  if (Array.isArray(value)) return value.map(redactSecrets) as T;
  if (typeof value !== 'object' || value === null) return value;
  const copy: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    copy[key] = secretKeyPattern.test(key) && inner !== undefined ? '[redacted]' : redactSecrets(inner);
  }
  return copy as T;
}
