import { PortwardenError } from '../core/errors.js'
import { parsePortSpec } from '../core/port-spec.js'
import type { PortSpec } from '../core/port-spec.js'
import type { HealthCheckSpec } from '../core/registry/types.js'
import type { BackendName } from '../core/sockets/list-sockets.js'

/** Positive integers only: `Number()` would take `0x10`, `1e3` and ` 7 `. */
export function parsePid(text: string): number {
  if (!/^[1-9][0-9]{0,9}$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new PortwardenError(
      'invalid_request',
      `Invalid --pid ${JSON.stringify(text)}: not a process id.`,
      {
        hint: 'Accepted: a positive decimal integer such as 4242.',
      },
    )
  }
  return Number(text)
}

export function parseBackend(text: string | undefined): BackendName | 'auto' {
  if (
    text === undefined ||
    text === 'auto' ||
    text === 'netlink' ||
    text === 'proc' ||
    text === 'lsof'
  )
    return text ?? 'auto'
  throw new PortwardenError('invalid_request', `Invalid --backend ${JSON.stringify(text)}.`, {
    hint: 'Accepted: auto (default), netlink (Linux sock_diag, native addon), proc (Linux /proc) or lsof.',
  })
}

/** Port specs from positional arguments or repeated/comma-separated flags. */
export function parseSpecs(values: readonly string[]): PortSpec[] {
  return values.flatMap((value) => value.split(',')).map((text) => parsePortSpec(text))
}

export function requireSpecs(values: readonly string[], command: string): PortSpec[] {
  if (values.length === 0) {
    throw new PortwardenError('invalid_request', `portwarden ${command} needs at least one port.`, {
      hint: `Example: portwarden ${command} 8080 5432 51820/udp`,
    })
  }
  return parseSpecs(values)
}

/** `--port 8080`: one port, no range, no protocol (that is --udp's job). */
export function parseSinglePort(text: string, flag = '--port'): number {
  const spec = parsePortSpec(text)
  if (spec.from !== spec.to || text.includes('/')) {
    throw new PortwardenError(
      'invalid_request',
      `Invalid ${flag} ${JSON.stringify(text)}: give one port number.`,
      {
        hint: `Example: ${flag} 8080 (add --udp for UDP).`,
      },
    )
  }
  return spec.from
}

/** `--range 20000-20999` */
export function parseRange(text: string): { from: number; to: number } {
  if (text.includes('/')) {
    throw new PortwardenError(
      'invalid_request',
      `Invalid --range ${JSON.stringify(text)}: give ports only, without a protocol.`,
      {
        hint: 'Example: --range 20000-20999 (add --udp for UDP).',
      },
    )
  }
  const spec = parsePortSpec(text)
  return { from: spec.from, to: spec.to }
}

/** `--count 3`: a small positive integer. */
export function parseCount(text: string): number {
  if (!/^[1-9][0-9]{0,5}$/.test(text)) {
    throw new PortwardenError(
      'invalid_request',
      `Invalid --count ${JSON.stringify(text)}: not a positive whole number.`,
      {
        hint: 'Example: --count 3',
      },
    )
  }
  return Number(text)
}

/** `--health http:/healthz`, `https:/`, `tcp`, `postgres`, `redis` (with `--expect 200` for HTTP). */
export function parseHealthCheck(text: string, expect?: string): HealthCheckSpec {
  const [kind, ...rest] = text.split(':')
  const path = rest.join(':')
  const expected = expect === undefined ? undefined : Number(expect)
  if (expect !== undefined && !/^[1-5][0-9][0-9]$/.test(expect)) {
    throw new PortwardenError(
      'invalid_request',
      `Invalid --expect ${JSON.stringify(expect)}: not an HTTP status.`,
      {
        hint: 'Example: --expect 200',
      },
    )
  }
  if ((kind === 'http' || kind === 'https') && (path === '' || path.startsWith('/'))) {
    return { kind, path: path || '/', ...(expected === undefined ? {} : { expect: expected }) }
  }
  if ((kind === 'tcp' || kind === 'postgres' || kind === 'redis') && path === '') return { kind }
  throw new PortwardenError('invalid_request', `Invalid --health ${JSON.stringify(text)}.`, {
    hint: 'Accepted: tcp, http:/PATH, https:/PATH, postgres or redis (e.g. --health http:/healthz --expect 200).',
  })
}
