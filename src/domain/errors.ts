// Domain errors carry a stable code and, where a rule of the agreement decided, its clause.
// Only the API edge maps them to HTTP, only the CLI maps them to exit codes.

export interface FieldError {
  readonly path: string;
  readonly message: string;
}

export class DomainError extends Error {
  readonly code: string;
  readonly clause: string | undefined;
  readonly errors: readonly FieldError[];

  constructor(code: string, message: string, opts: { clause?: string; errors?: FieldError[] } = {}) {
    super(message);
    this.name = 'DomainError';
    this.code = code;
    this.clause = opts.clause;
    this.errors = opts.errors ?? [];
  }
}

/** Bad input: a field breaks a rule. Nothing was written. */
export class ValidationError extends DomainError {
  constructor(message: string, errors: FieldError[]) {
    super('VALIDATION_FAILED', message, { errors });
    this.name = 'ValidationError';
  }
}

/** The agreement forbids this event on this case now (machine or authority rule). Nothing was written. */
export class EventRefused extends DomainError {
  constructor(code: string, message: string, clause: string) {
    super(code, message, { clause });
    this.name = 'EventRefused';
  }
}

export class Forbidden extends DomainError {
  constructor(message: string, clause?: string) {
    super('FORBIDDEN', message, clause === undefined ? {} : { clause });
    this.name = 'Forbidden';
  }
}

export class NotFound extends DomainError {
  constructor(message: string) {
    super('NOT_FOUND', message);
    this.name = 'NotFound';
  }
}

/** Optimistic concurrency lost, or an idempotency key reused with another body. */
export class Conflict extends DomainError {
  constructor(
    code: 'VERSION_CONFLICT' | 'PRECONDITION_FAILED' | 'IDEMPOTENCY_CONFLICT' | 'CASE_EXISTS',
    message: string,
  ) {
    super(code, message);
    this.name = 'Conflict';
  }
}

/** Turns a zod error into field errors named by their dotted path. */
export function fieldErrors(issues: readonly { path: readonly PropertyKey[]; message: string }[], prefix = '') {
  return issues.map((issue) => ({
    path: [prefix, ...issue.path.map(String)].filter((p) => p !== '').join('.') || '(root)',
    message: issue.message,
  }));
}
