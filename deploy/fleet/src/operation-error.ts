/** A failure the operator must act on (exit code 1), with what to do about it. */
export class OperationError extends Error {
  override readonly name = 'OperationError';
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}
