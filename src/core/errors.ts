/**
 * The one error type of the library. `code` is stable and is what front ends map to exit
 * codes and HTTP statuses; `message` is a sentence for a person; `hint` says what to do.
 */
export type PortwardenErrorCode =
  // bad usage or bad input (exit 2, HTTP 400)
  | 'invalid_request'
  // the answer is "no" (exit 1)
  | 'port_in_use'
  | 'port_allocated'
  | 'range_exhausted'
  | 'not_found'
  | 'dependency_failed'
  // the environment failed us (exit 3)
  | 'permission_denied'
  | 'proc_unreadable'
  | 'backend_unavailable'
  | 'registry_locked'
  | 'registry_corrupt'
  | 'registry_unavailable'

export class PortwardenError extends Error {
  override readonly name = 'PortwardenError'
  readonly code: PortwardenErrorCode
  readonly hint: string | undefined
  readonly details: Record<string, unknown> | undefined

  constructor(
    code: PortwardenErrorCode,
    message: string,
    options: { hint?: string; cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, { cause: options.cause })
    this.code = code
    this.hint = options.hint
    this.details = options.details
  }
}

/** Recognised by property, not class identity, so two copies of the package still agree. */
export function isPortwardenError(error: unknown): error is PortwardenError {
  return error instanceof Error && error.name === 'PortwardenError' && 'code' in error
}

/** The errno of a Node system error, or undefined. */
export function errnoOf(error: unknown): string | undefined {
  if (error instanceof Error && 'code' in error && typeof error.code === 'string') return error.code
  return undefined
}
