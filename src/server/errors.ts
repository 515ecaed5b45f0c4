import type { Context } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import type { PortwardenErrorCode } from '../core/errors.js'
import { isPortwardenError } from '../core/errors.js'
import { stringifyForTerminal } from '../shared/safe-text.js'
import { apiHint } from './api-hints.js'

/** The codes only HTTP has, next to the library's own. */
export type HttpOnlyCode =
  | 'unauthorized'
  | 'forbidden_host'
  | 'forbidden_origin'
  | 'unsupported_media_type'
  | 'payload_too_large'
  | 'method_not_allowed'
  | 'internal_error'

export type ApiErrorCode = PortwardenErrorCode | HttpOnlyCode

/** The only table that turns error codes into HTTP statuses (the CLI's twin is exit-codes.ts). */
const STATUS_BY_CODE: Record<ApiErrorCode, ContentfulStatusCode> = {
  invalid_request: 400,
  unauthorized: 401,
  forbidden_host: 403,
  forbidden_origin: 403,
  permission_denied: 403,
  not_found: 404,
  method_not_allowed: 405,
  port_in_use: 409,
  port_allocated: 409,
  range_exhausted: 409,
  dependency_failed: 424,
  payload_too_large: 413,
  unsupported_media_type: 415,
  internal_error: 500,
  proc_unreadable: 500,
  registry_corrupt: 500,
  backend_unavailable: 503,
  registry_locked: 503,
  registry_unavailable: 503,
}

/** An error the server itself raises (bad Host, no token...), answered like a library error. */
export class ApiError extends Error {
  readonly code: ApiErrorCode
  readonly details: Record<string, unknown>
  readonly hint: string | undefined

  constructor(
    code: ApiErrorCode,
    message: string,
    options: { details?: Record<string, unknown>; hint?: string } = {},
  ) {
    super(message)
    this.code = code
    this.details = options.details ?? {}
    this.hint = options.hint
  }
}

/** JSON with the same escaping as the CLI's `--json` (control and bidi characters as \u escapes). */
export function jsonResponse(c: Context, value: unknown, status: ContentfulStatusCode = 200) {
  return jsonTextResponse(c, stringifyForTerminal(value), status)
}

export function jsonTextResponse(c: Context, text: string, status: ContentfulStatusCode = 200) {
  return c.body(text, status, { 'Content-Type': 'application/json; charset=utf-8' })
}

function withHint(hint: string | undefined): { hint?: string } {
  return hint ? { hint } : {}
}

/** `{"error", "message", "details"}` (+ `hint` when there is one) for any error; never a stack. */
export function errorBody(error: unknown): { status: ContentfulStatusCode; text: string } {
  if (error instanceof ApiError || isPortwardenError(error)) {
    return {
      status: STATUS_BY_CODE[error.code],
      text: stringifyForTerminal({
        error: error.code,
        message: error.message,
        details: error.details ?? {},
        ...withHint(apiHint(error.code, error.details ?? {}, error.hint)),
      }),
    }
  }
  // A bug, not bad input: the operator hears of it (the client gets no internals).
  process.stderr.write(
    process.env.PORTWARDEN_DEBUG && error instanceof Error
      ? `portwarden serve: internal error: ${error.stack}\n`
      : `portwarden serve: internal error: ${error instanceof Error ? error.message : String(error)} (PORTWARDEN_DEBUG=1 shows where)\n`,
  )
  return {
    status: 500,
    text: stringifyForTerminal({
      error: 'internal_error',
      message: 'Internal error: the request could not be answered.',
      details: {},
    }),
  }
}

/** The body is still on the connection: refused by its size, or before a route read it. */
const bodyLeftUnread = (c: Context, status: number) =>
  c.req.raw.body !== null && (status === 413 || !c.req.raw.bodyUsed)

export function errorResponse(c: Context, error: unknown): Response {
  const { status, text } = errorBody(error)
  // A body left unread: close the connection after it (drained first, unless over the limit), and
  // say so, so that a client does not send its next request into what is left of it.
  if (bodyLeftUnread(c, status)) c.header('Connection', 'close')
  return jsonTextResponse(c, text, status)
}
