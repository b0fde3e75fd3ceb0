// The one way a drhard command gets its flags: a zod object schema becomes commander options (flag names, help,
// placeholders, choices, hidden deprecated aliases), and commander's raw values are validated by the same schema into
// one-line usage errors that name the flag.
import { Option, type Command } from 'commander';
import { z } from 'zod';
import { DrhardUsageError } from '../util/errors.ts';

/** `maxDocLength` → `max-doc-length`. */
export const kebab = (k: string): string => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** `max-doc-length` → `maxDocLength` (commander's attribute name of a flag). */
export const camel = (k: string): string => k.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** A field's inner schema, its default, and whether it may be left out, through Default/Optional/transform wrappers. */
export function unwrapField(t: z.ZodType): { inner: z.ZodType; def: unknown; required: boolean } {
  let inner = t;
  let def: unknown;
  let required = true;
  for (;;) {
    if (inner instanceof z.ZodDefault) {
      def = inner.def.defaultValue;
      required = false;
      inner = inner.unwrap() as z.ZodType;
    } else if (inner instanceof z.ZodOptional) {
      required = false;
      inner = inner.unwrap() as z.ZodType;
    } else if (inner instanceof z.ZodPipe) {
      // A transform's flag takes what the transform reads (e.g. "4G", or a list of "k=v").
      inner = inner.in as z.ZodType;
    } else return { inner, def, required };
  }
}

/**
 * One command's flags, help and validation, all from `schema` (field name = flag name in kebab case; the field's
 * `.describe()` = its help). Keep per-command extras to these few maps so a new option is one schema line.
 */
export interface CommandSpec<S extends z.ZodObject, O = z.output<S>> {
  name: string;
  description: string;
  schema: S;
  /** Fields taken as positional arguments (an array field becomes `<name...>`), in order. */
  args?: ReadonlyArray<keyof S['shape'] & string>;
  /** Placeholder per field in help, e.g. `{ data: 'dir' }` → `--data <dir>`; numbers default to `n`, others to `value`. */
  placeholders?: Partial<Record<keyof S['shape'] & string, string>>;
  /**
   * Old flag names (kebab, without `--`) → the field they now set. They work for one release with a deprecation
   * warning and are not shown in help.
   */
  aliases?: Record<string, keyof S['shape'] & string>;
  /** Extra flags not in the schema (e.g. train's `--config`), added before the schema's. */
  extra?: (cmd: Command) => void;
  /** Turns the raw values (schema keys, aliases resolved) into options; default: parseWith(spec, raw). */
  parse?: (raw: Record<string, unknown>, cmd: Command) => O | Promise<O>;
  run: (o: O) => Promise<void>;
}

const DEFAULT_MENTIONED = /\bdefault\b/i;

function showDefault(def: unknown): string {
  if (Array.isArray(def)) return def.join(',');
  if (typeof def === 'string') return def === '' ? "''" : def;
  return String(def);
}

/** A number flag's value as a number; not one, the text as given, so the schema reports it with every other problem. */
function parseNumber(v: string): number | string {
  const n = v.trim() === '' ? Number.NaN : Number(v);
  return Number.isNaN(n) ? v : n;
}

/** The commander Option(s) of one schema field under `flag` (an alias builds the same shape under its old name). */
function optionsFor(flag: string, field: z.ZodType, placeholder: string | undefined): Option[] {
  const { inner, def, required } = unwrapField(field);
  let help = field.description ?? '';
  if (inner instanceof z.ZodBoolean) {
    // A switch that is on unless turned off gets both spellings: --x (its help) and --no-x ("turn --x off").
    if (def === true || def === undefined) {
      const on = new Option(`--${flag}`, def === true && !DEFAULT_MENTIONED.test(help) ? `${help} (default: on)` : help);
      const off = new Option(`--no-${flag}`, `turn --${flag} off`);
      return [on, off];
    }
    return [new Option(`--${flag}`, help)];
  }
  // Choices are checked by the schema (one message style for every bad value); help lists them unless it already does.
  if (inner instanceof z.ZodEnum) {
    const choices = inner.options.map(String);
    if (!choices.every((c) => help.includes(c))) help = `${help} (one of: ${choices.join(', ')})`;
  }
  if (def !== undefined && !DEFAULT_MENTIONED.test(help)) help = `${help} (default: ${showDefault(def)})`;
  else if (required) help = `${help} (required)`;
  let o: Option;
  if (inner instanceof z.ZodArray) {
    o = new Option(`--${flag} <${placeholder ?? 'value'}...>`, help);
    if (unwrapField(inner.element as z.ZodType).inner instanceof z.ZodNumber) o.argParser((v: string, prev: unknown) => [...((prev as unknown[] | undefined) ?? []), parseNumber(v)]);
  } else if (inner instanceof z.ZodTuple) {
    o = new Option(`--${flag} <${placeholder ?? 'min,max'}>`, help).argParser((v: string) => v.split(',').map(parseNumber));
  } else if (inner instanceof z.ZodUnion && inner.options.some((t) => t instanceof z.ZodBoolean)) {
    // boolean | string (e.g. --resume [checkpoint]): the flag alone is true, with a value that value.
    o = new Option(`--${flag} [${placeholder ?? 'value'}]`, help);
  } else {
    o = new Option(`--${flag} <${placeholder ?? (inner instanceof z.ZodNumber ? 'n' : 'value')}>`, help);
    if (inner instanceof z.ZodNumber) o.argParser(parseNumber);
  }
  return [o];
}

/** `--data <dir>` as the help shows it, for error messages. */
function flagText(key: string, field: z.ZodType, placeholder: string | undefined): string {
  return optionsFor(kebab(key), field, placeholder)[0]?.flags ?? `--${kebab(key)}`;
}

/**
 * Zod issues → one line: a missing required option is named with its placeholder ("missing required option
 * --data <dir>"), other problems as `--flag: message`; positional arguments by their own message.
 */
export function usageMessage<S extends z.ZodObject>(
  issues: readonly z.core.$ZodIssue[],
  raw: Record<string, unknown>,
  spec: Pick<CommandSpec<S>, 'schema' | 'args' | 'placeholders'>,
): string {
  const shape = spec.schema.shape as Record<string, z.ZodType>;
  const lines = issues.map((i) => {
    const key = String(i.path[0] ?? '');
    const field = shape[key];
    if (field === undefined) return i.message;
    if ((spec.args as readonly string[] | undefined)?.includes(key)) return raw[key] === undefined ? `missing argument <${key}>` : i.message;
    const flag = flagText(key, field, (spec.placeholders as Record<string, string> | undefined)?.[key]);
    if (raw[key] === undefined) return `missing required option ${flag}`;
    const given = raw[key];
    const shown = typeof given === 'string' || typeof given === 'number' ? ` (got ${JSON.stringify(given)})` : '';
    return `--${kebab(key)}: ${i.message.replace(/^Invalid (input|option): /, '')}${shown}`;
  });
  return [...new Set(lines)].join('; ');
}

/** Validates raw values with the schema; problems become one DrhardUsageError line (exit 2). */
export function parseWith<S extends z.ZodObject>(spec: Pick<CommandSpec<S>, 'schema' | 'args' | 'placeholders'>, raw: Record<string, unknown>): z.output<S> {
  const r = spec.schema.safeParse(raw);
  if (r.success) return r.data;
  throw new DrhardUsageError(usageMessage(r.error.issues, raw, spec));
}

/** Prints the one-line deprecation warning for an old flag name (stderr, not the logger: it must show at any log level). */
function warnDeprecated(oldFlag: string, newFlag: string): void {
  process.stderr.write(`drhard: warning: --${oldFlag} is deprecated and will be removed in the next release; use --${newFlag}\n`);
}

/** Adds `spec` as a subcommand of `parent` and returns it. */
export function defineCommand<S extends z.ZodObject, O = z.output<S>>(parent: Command, spec: CommandSpec<S, O>): Command {
  const cmd = parent.command(spec.name).description(spec.description);
  const shape = spec.schema.shape as Record<string, z.ZodType>;
  const ph = (spec.placeholders ?? {}) as Record<string, string>;
  const args = (spec.args ?? []) as readonly string[];
  for (const key of args) {
    const field = shape[key]!;
    const { inner } = unwrapField(field);
    cmd.argument(inner instanceof z.ZodArray ? `<${key}...>` : `<${key}>`, field.description ?? '');
  }
  spec.extra?.(cmd);
  for (const [key, field] of Object.entries(shape)) {
    if (args.includes(key)) continue;
    for (const o of optionsFor(kebab(key), field, ph[key])) cmd.addOption(o);
  }
  const aliases = Object.entries(spec.aliases ?? {}) as Array<[string, string]>;
  for (const [old, key] of aliases) {
    if (camel(old) in shape) throw new Error(`${spec.name}: alias --${old} is also a field of the schema`);
    for (const o of optionsFor(old, shape[key]!, ph[key])) cmd.addOption(o.hideHelp());
  }
  cmd.action(async (...params: unknown[]) => {
    const self = params[params.length - 1] as Command;
    const raw: Record<string, unknown> = { ...self.opts() };
    args.forEach((key, i) => {
      raw[key] = params[i];
    });
    for (const [old, key] of aliases) {
      const attr = camel(old);
      if (raw[attr] === undefined) continue;
      warnDeprecated(old, kebab(key));
      if (raw[key] !== undefined) throw new DrhardUsageError(`give --${kebab(key)} or its old name --${old}, not both`);
      raw[key] = raw[attr];
      delete raw[attr];
    }
    const o = spec.parse !== undefined ? await spec.parse(raw, self) : (parseWith(spec, raw) as O);
    await spec.run(o);
  });
  return cmd;
}
