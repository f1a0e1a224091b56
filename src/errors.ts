/**
 * An error caused by the user's input (file, flags, model contents). The CLI
 * prints `lipcheck: <file>: <message>` on one line and exits with code 2; any
 * other error is a bug and keeps its stack trace.
 */
export class InputError extends Error {
  constructor(
    message: string,
    readonly file?: string,
  ) {
    super(message);
    this.name = 'InputError';
  }
}
