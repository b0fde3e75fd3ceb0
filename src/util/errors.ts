// Error types shared by every module: input errors name file, line and field; CLI maps them to exit codes.

/** Bad user input (a file's content, a flag's value). The CLI prints the message and exits 1. */
export class DrhardInputError extends Error {
  readonly file: string | undefined;
  readonly line: number | undefined;
  readonly field: string | undefined;
  constructor(message: string, where: { file?: string; line?: number; field?: string } = {}) {
    const loc = where.file ? `${where.file}${where.line !== undefined ? `:${where.line}` : ''}: ` : '';
    const fld = where.field ? `${where.field}: ` : '';
    super(`${loc}${fld}${message}`);
    this.name = 'DrhardInputError';
    this.file = where.file;
    this.line = where.line;
    this.field = where.field;
  }
}

/** Wrong usage of a command (bad flag combination). The CLI exits 2. */
export class DrhardUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DrhardUsageError';
  }
}
