/**
 * Argument schemas the tools share, and their conversion to the core's types. The schemas say
 * the shape (what JSON type, how long); the core's own parsers (port specs, durations) judge the
 * values, so a bad port gets the same sentence as on the command line.
 */
import { z } from 'zod'
import { PortwardenError } from '../core/errors.js'
import type { PortSpec } from '../core/port-spec.js'
import { PORT_SPEC_FORMS, parsePortSpec } from '../core/port-spec.js'
import type { PortRange } from '../core/registry/allocator.js'

/** Most port specs one call may name (a range counts once; the core bounds what it expands to). */
const MAX_SPECS = 64

export const protocolInput = z.enum(['tcp', 'udp']).describe('tcp or udp')

const portSpecInput = z
  .union([z.number(), z.string().max(32)])
  .describe(`a port spec: ${PORT_SPEC_FORMS}`)

export const portSpecsInput = z
  .array(portSpecInput)
  .min(1, 'name at least one port')
  .max(MAX_SPECS, `at most ${MAX_SPECS} port specs`)
  .describe(`ports: ${PORT_SPEC_FORMS}; 8080 alone means TCP`)

export const hostInput = z
  .string()
  .max(64)
  .describe('an IPv4 or IPv6 address (or localhost); default: every address')

export const projectInput = z
  .string()
  .max(200)
  .describe('a project name (default: the git worktree name of the server, else its directory)')

export const rangeInput = z
  .string()
  .max(16)
  .describe('ports to choose from, such as "20000-20999" (default 20000-29999)')

/** The texts as port specs, by the CLI's strict grammar (8080.5, 0x10 and 70000 are refused). */
export function toPortSpecs(values: readonly (number | string)[]): PortSpec[] {
  return values.map((value) => parsePortSpec(String(value)))
}

/** `"20000-20999"`: a range of ports without a protocol (the `protocol` argument says that). */
export function toRange(text: string): PortRange {
  if (text.includes('/')) {
    throw new PortwardenError(
      'invalid_request',
      `Invalid range ${JSON.stringify(text)}: give ports only; the protocol argument says tcp or udp.`,
      { hint: 'Example: "range": "20000-20999", "protocol": "udp".' },
    )
  }
  const spec = parsePortSpec(text)
  return { from: spec.from, to: spec.to }
}

/** A single port, as a number or a spec string without a range. */
export function toSinglePort(value: number | string, argument: string): PortSpec {
  const spec = parsePortSpec(String(value))
  if (spec.from !== spec.to) {
    throw new PortwardenError(
      'invalid_request',
      `Invalid ${argument} ${JSON.stringify(value)}: one port is expected here, not a range.`,
      { hint: `Example: "${argument}": 8080, or "${argument}": "51820/udp".` },
    )
  }
  return spec
}
