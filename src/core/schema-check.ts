import type { z } from 'zod'
import { PortwardenError } from './errors.js'

/** The most problems one message details (the rest are counted). */
const MAX_ISSUES = 20

/**
 * Parses `value` with a zod `schema` for the front ends that take JSON (the HTTP API's bodies
 * and queries, the MCP server's tool arguments); a mismatch is `invalid_request` with a sentence
 * naming the first problem by path (`Invalid request body: port: ...`) and every one in
 * `details.issues`. `what` names the value (`request body`), `whole` the value as a path does
 * when the problem is the value itself (`body`).
 */
export function parseWithSchema<T>(
  schema: z.ZodType<T>,
  value: unknown,
  what: string,
  whole = what,
): T {
  const result = schema.safeParse(value)
  if (result.success) return result.data
  const issues = result.error.issues.slice(0, MAX_ISSUES).map((issue) => ({
    path: issue.path.map(String).join('.'),
    message: issue.message,
  }))
  const first = issues[0]
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''
  throw new PortwardenError(
    'invalid_request',
    `Invalid ${what}: ${first ? `${first.path || `(the whole ${whole})`}: ${first.message}` : 'not accepted'}${more}.`,
    { details: { issues } },
  )
}
