import { PortwardenError, parsePortSpec } from '../core/index.js'
import type { BackendName, PortSpec } from '../core/index.js'

/** Positive integers only: `Number()` would take `0x10`, `1e3` and ` 7 `. */
export function parsePid(text: string): number {
  if (!/^[1-9][0-9]{0,9}$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new PortwardenError('invalid_request', `Invalid --pid ${JSON.stringify(text)}: not a process id.`, {
      hint: 'Accepted: a positive decimal integer such as 4242.',
    })
  }
  return Number(text)
}

export function parseBackend(text: string | undefined): BackendName | 'auto' {
  if (text === undefined || text === 'auto' || text === 'proc' || text === 'lsof') return text ?? 'auto'
  throw new PortwardenError('invalid_request', `Invalid --backend ${JSON.stringify(text)}.`, {
    hint: 'Accepted: auto (default), proc (Linux /proc) or lsof.',
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
