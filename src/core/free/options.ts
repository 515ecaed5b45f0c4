import { PortwardenError } from '../errors.js'

/** The signals `free` may send: the ones people use to stop a server, nothing exotic. */
export const FREE_SIGNALS = [
  'SIGTERM',
  'SIGINT',
  'SIGHUP',
  'SIGKILL',
  'SIGQUIT',
  'SIGUSR1',
  'SIGUSR2',
] as const
export type FreeSignal = (typeof FREE_SIGNALS)[number]

const SIGNAL_NAMES = FREE_SIGNALS.map((s) => s.slice(3)).join(', ')

/** `TERM`, `SIGTERM`, `term`: one of FREE_SIGNALS. Numbers are refused: 9 and 15 read alike in a hurry. */
export function parseSignalName(text: string): FreeSignal {
  const upper = text.trim() === text ? text.toUpperCase() : ''
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`
  const found = FREE_SIGNALS.find((signal) => signal === name)
  if (found) return found
  throw new PortwardenError(
    'invalid_request',
    `Invalid --signal ${JSON.stringify(text)}: not a signal free sends.`,
    {
      hint: `Accepted: ${SIGNAL_NAMES} (with or without the SIG prefix).`,
      details: { signal: text },
    },
  )
}

/** The longest --wait or --kill-after: long enough for any graceful shutdown, short enough for a timer. */
export const MAX_DURATION_MS = 60 * 60 * 1000

const DURATION_PATTERN = /^(0|[1-9][0-9]{0,6})(?:\.([0-9]{1,3}))?(ms|s|m)?$/

/**
 * `500ms`, `5s`, `1.5s`, `2m`, or a bare number of seconds (as timeout(1) reads it). Strict: no
 * sign, exponent, spaces or hex, and at most an hour.
 */
export function parseDuration(text: string, flag: string): number {
  const match = DURATION_PATTERN.exec(text)
  const fail = (why: string) =>
    new PortwardenError('invalid_request', `Invalid ${flag} ${JSON.stringify(text)}: ${why}.`, {
      hint: `Accepted: a duration such as 500ms, 5s, 1.5s or 2m (a bare number is seconds), up to 1h.`,
      details: { [flag.replace(/^-+/, '')]: text },
    })
  if (!match) throw fail('not a duration')
  const unit = match[3] ?? 's'
  if (unit === 'ms' && match[2] !== undefined) throw fail('milliseconds take no fraction')
  const whole = Number(match[1])
  const fraction = match[2] === undefined ? 0 : Number(`0.${match[2]}`)
  const factor = unit === 'ms' ? 1 : unit === 's' ? 1000 : 60_000
  const ms = Math.round((whole + fraction) * factor)
  if (ms > MAX_DURATION_MS) throw fail('longer than 1h')
  return ms
}

/** `500ms`, `5s`, `1.5s`, `2m`: the way a person would write it back. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`
  if (ms % 60_000 === 0) return `${ms / 60_000}m`
  const seconds = ms / 1000
  return `${Number.isInteger(seconds) ? seconds : seconds.toFixed(1).replace(/\.0$/, '')}s`
}

/** How long `free` and `prune` wait for a port after the last signal, unless told. */
export const DEFAULT_WAIT_MS = 5000

/**
 * The stop options every front end takes (`free`, `prune`; CLI, API, MCP) from their text form:
 * the signal (default SIGTERM), the wait (default 5 s) and the SIGKILL delay (default none).
 * `flags` names them in errors as the caller spells them (`--wait`, or `wait`).
 */
export function parseStopOptions(
  text: { signal?: string; wait?: string; killAfter?: string },
  flags: { wait: string; killAfter: string },
): { signal: FreeSignal; waitMs: number; killAfterMs: number | null } {
  return {
    signal: text.signal === undefined ? 'SIGTERM' : parseSignalName(text.signal),
    waitMs: text.wait === undefined ? DEFAULT_WAIT_MS : parseDuration(text.wait, flags.wait),
    killAfterMs:
      text.killAfter === undefined ? null : parseDuration(text.killAfter, flags.killAfter),
  }
}
