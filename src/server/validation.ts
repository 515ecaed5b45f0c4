import { realpathSync, statSync } from 'node:fs'
import { isAbsolute } from 'node:path'
import type { Context, MiddlewareHandler } from 'hono'
import { z } from 'zod'
import { PortwardenError } from '../core/errors.js'
import { parsePortSpec } from '../core/port-spec.js'
import { parseWithSchema } from '../core/schema-check.js'
import type { PortSpec } from '../core/port-spec.js'
import type { Protocol } from '../core/types.js'

/** Largest request body accepted (I4); larger ones get 413 before they are read to the end. */
export const MAX_BODY_BYTES = 1024 * 1024

/**
 * Reads to its end (and drops) the body of a request answered without it: a 404, a guard's
 * refusal. An answer sent while the client is still writing leaves @hono/node-server half a
 * second to drain the rest; past that it closes the connection, and the client, still writing,
 * gets EPIPE instead of the answer. Dropped, not kept: a refused client costs no memory. At most
 * MAX_BODY_BYTES are read (more is a 413's case: that connection is closed).
 */
export function drainUnreadBody(): MiddlewareHandler {
  return async (c, next) => {
    await next()
    const { body, bodyUsed } = c.req.raw
    if (body !== null && !bodyUsed && c.res.status !== 413) await discard(body, MAX_BODY_BYTES)
  }
}

async function discard(body: ReadableStream<Uint8Array>, limit: number): Promise<void> {
  const reader = body.getReader()
  let size = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return
      size += value.byteLength
      if (size > limit) {
        await reader.cancel()
        return
      }
    }
  } catch {
    // The client went away: there is no one left to answer.
  }
}

export const protocolSchema = z.enum(['tcp', 'udp'])

/** PID_MAX_LIMIT: no Linux process id is larger (`/proc/sys/kernel/pid_max` tops out here). */
const PID_MAX = 4_194_304

const PATH_MAX = 4096

/**
 * POST /api/allocations: `{"project", "service", "port"?, "protocol"?, "range"?, "worktree"?,
 * "pid"?}`. `worktree` and `pid` say who owns the port, as `alloc` records them from its cwd and
 * `--pid`: without them, a process on the port can be reported, but not judged.
 */
export const allocationRequestSchema = z.strictObject({
  project: z.string(),
  service: z.string(),
  // A number, or the CLI's one-port spec as a string: "8080", "8080/tcp", "51820/udp".
  port: z
    .union([
      z.number().int().min(1).max(65535),
      z.string().regex(/^[0-9]{1,5}(?:\/(?:tcp|udp))?$/i, 'a port such as 8080 or "51820/udp"'),
    ])
    .optional(),
  protocol: protocolSchema.optional(),
  range: z
    .string()
    .regex(/^[0-9]+-[0-9]+$/, 'a range of ports such as "20000-20999"')
    .optional(),
  worktree: z
    .string()
    .max(PATH_MAX, `a path of at most ${PATH_MAX} characters`)
    // eslint-disable-next-line no-control-regex
    .regex(/^[^\u0000-\u001f\u007f]*$/, 'a path without control characters')
    .refine(isAbsolute, 'an absolute path, such as "/home/dev/shop"')
    .optional(),
  pid: z
    .number()
    .int(`a process id: a whole number from 1 to ${PID_MAX}`)
    .min(1, `a process id: a whole number from 1 to ${PID_MAX}`)
    .max(PID_MAX, `a process id: a whole number from 1 to ${PID_MAX}`)
    .optional(),
})

/**
 * The directory a request names, as /proc shows a process's cwd (symlinks resolved), so that
 * ownership by worktree compares like with like; 400 when there is no such directory here.
 */
export function existingDirectory(path: string, field: string): string {
  let real: string
  try {
    real = realpathSync(path)
    if (statSync(real).isDirectory()) return real
  } catch {
    // reported below
  }
  throw new PortwardenError(
    'invalid_request',
    `Invalid request body: ${field}: ${JSON.stringify(path.slice(0, 200))} is not a directory on this host.`,
    {
      hint: 'Give the absolute path of the worktree the service runs in.',
      details: { issues: [{ path: field, message: 'not a directory on this host' }] },
    },
  )
}

/** POST /api/ports/{port}/free: `{"protocol"?, "signal"?, "dry_run"?, "wait"?, "kill_after"?}`. */
export const freeRequestSchema = z.strictObject({
  protocol: protocolSchema.optional(),
  signal: z.string().max(16).optional(),
  dry_run: z.boolean().optional(),
  wait: z.string().max(16).optional(),
  kill_after: z.string().max(16).optional(),
})

/** POST /api/prune: `{"project"?, "dry_run"?, "release_gone"?, "signal"?, "wait"?, "kill_after"?}`. */
export const pruneRequestSchema = z.strictObject({
  project: z.string().optional(),
  dry_run: z.boolean().optional(),
  release_gone: z.boolean().optional(),
  signal: z.string().max(16).optional(),
  wait: z.string().max(16).optional(),
  kill_after: z.string().max(16).optional(),
})

/** POST /api/health-checks: `{"project"?}` or no body. */
export const healthCheckRequestSchema = z.strictObject({ project: z.string().optional() })

/**
 * The JSON body, checked against `schema`. No body counts as `{}` when `optional`. Malformed
 * JSON, a wrong shape, unknown keys (`__proto__` included) → 400 `invalid_request` naming each
 * problem. The size limit is enforced before (body-limit middleware).
 */
export async function readJsonBody<T>(
  c: Context,
  schema: z.ZodType<T>,
  { optional = false }: { optional?: boolean } = {},
): Promise<T> {
  const text = await c.req.text()
  let value: unknown
  if (text.trim() === '') {
    if (!optional)
      throw new PortwardenError('invalid_request', 'The request needs a JSON body.', {
        details: { body: 'missing' },
      })
    value = {}
  } else {
    try {
      value = JSON.parse(text)
    } catch (error) {
      throw new PortwardenError(
        'invalid_request',
        `The body is not valid JSON: ${error instanceof Error ? error.message.slice(0, 200) : 'parse error'}.`,
        { details: { body: 'malformed' } },
      )
    }
  }
  return validate(schema, value, 'body')
}

/** Parses `value` with `schema`; a mismatch is a 400 listing every problem by path. */
export function validate<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  return parseWithSchema(schema, value, `request ${where}`, where)
}

/** A single port from the path (`/api/ports/8080`): the CLI's strict grammar, no range. */
export function parsePathPort(text: string, protocol: Protocol = 'tcp'): PortSpec {
  const spec = parsePortSpec(text, protocol)
  if (spec.from !== spec.to || text.includes('/')) {
    throw new PortwardenError(
      'invalid_request',
      `Invalid port ${JSON.stringify(text)}: one port number 1-65535 is expected here.`,
      { details: { port: text } },
    )
  }
  return spec
}

/** `?protocol=` of GET routes: tcp (default) or udp. */
export function queryProtocol(c: Context): Protocol {
  const text = c.req.query('protocol')
  return text === undefined ? 'tcp' : validate(protocolSchema, text, 'query parameter protocol')
}
