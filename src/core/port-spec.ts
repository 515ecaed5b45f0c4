import { PortwardenError } from './errors.js'
import type { Protocol } from './types.js'
import { truncate } from '../shared/safe-text.js'

/** A port or an inclusive range of ports, with a protocol: `8080`, `8000-8010/udp`. */
export interface PortSpec {
  from: number
  to: number
  protocol: Protocol
}

export const PORT_SPEC_FORMS =
  '8080, 8080/tcp, 51820/udp, 8000-8010 or 8000-8010/udp (ports 1-65535)'

// Strict grammar: ASCII digits only, no sign, no spaces, no leading zeros, no exponent or hex.
// Number()/parseInt() accept all of those, which is how tools end up killing the wrong port.
const SPEC_PATTERN = /^([1-9][0-9]{0,4})(?:-([1-9][0-9]{0,4}))?(?:\/(tcp|udp|TCP|UDP))?$/

function invalid(text: string, why: string): PortwardenError {
  // `problem`: the same words as a fragment, for messages that place it in a sentence of their own
  const problem = `invalid port spec ${JSON.stringify(truncate(text, 41))}: ${why}`
  return new PortwardenError('invalid_request', `I${problem.slice(1)}.`, {
    hint: `Accepted forms: ${PORT_SPEC_FORMS}.`,
    details: { spec: text, problem },
  })
}

function explain(text: string): string {
  if (text.trim() === '') return 'it is empty'
  if (text !== text.trim()) return 'it has surrounding spaces'
  if (text.startsWith('-')) return 'ports cannot be negative'
  const slash = text.indexOf('/')
  if (slash >= 0) {
    const protocol = text.slice(slash + 1)
    if (!/^(tcp|udp)$/i.test(protocol))
      return `protocol ${JSON.stringify(protocol)} is not tcp or udp`
  }
  const ports = slash >= 0 ? text.slice(0, slash) : text
  for (const part of ports.split('-')) {
    if (!/^[0-9]+$/.test(part)) return `${JSON.stringify(part)} is not a decimal port number`
    if (part.length > 1 && part.startsWith('0')) return `${part} has a leading zero`
    const value = Number(part)
    if (value < 1 || value > 65535) return `port ${part} is outside 1-65535`
  }
  return 'it is not a port or a range'
}

/** Parses one port spec; throws `invalid_request` naming the bad token and the accepted forms. */
export function parsePortSpec(text: string, defaultProtocol: Protocol = 'tcp'): PortSpec {
  const match = SPEC_PATTERN.exec(text)
  if (!match) throw invalid(text, explain(text))
  const from = Number(match[1])
  const to = match[2] === undefined ? from : Number(match[2])
  if (from > 65535) throw invalid(text, `port ${from} is outside 1-65535`)
  if (to > 65535) throw invalid(text, `port ${to} is outside 1-65535`)
  if (to < from) throw invalid(text, `the range ${from}-${to} is inverted (write ${to}-${from})`)
  const protocol = (match[3]?.toLowerCase() as Protocol | undefined) ?? defaultProtocol
  return { from, to, protocol }
}

/** The canonical text of a spec: `8080/tcp`, `8000-8010/udp`. */
export function formatPortSpec(spec: PortSpec): string {
  const ports = spec.from === spec.to ? `${spec.from}` : `${spec.from}-${spec.to}`
  return `${ports}/${spec.protocol}`
}

export function specContains(spec: PortSpec, protocol: Protocol, port: number): boolean {
  return spec.protocol === protocol && port >= spec.from && port <= spec.to
}

/** Every (protocol, port) a list of specs names, in order, without repeats. */
export function expandPortSpecs(
  specs: readonly PortSpec[],
): { protocol: Protocol; port: number }[] {
  const seen = new Set<string>()
  const out: { protocol: Protocol; port: number }[] = []
  for (const spec of specs) {
    for (let port = spec.from; port <= spec.to; port++) {
      const key = `${spec.protocol}:${port}`
      if (seen.has(key)) continue
      seen.add(key)
      out.push({ protocol: spec.protocol, port })
    }
  }
  return out
}

/** One spec per item, for exactly its port and protocol (e.g. a scan of allocated ports). */
export function exactPorts(items: readonly { port: number; protocol: Protocol }[]): PortSpec[] {
  return items.map((item) => ({ from: item.port, to: item.port, protocol: item.protocol }))
}

/**
 * Port spec texts for a listing of `protocols`: a spec without `/tcp` or `/udp` matches every
 * protocol listed (as `ss sport = :P` does); one naming a protocol the listing leaves out is
 * returned in `excluded`, for the caller to refuse in its own words.
 */
export function specsForProtocols(
  texts: readonly string[],
  protocols: readonly Protocol[],
): { specs: PortSpec[]; excluded: { text: string; spec: PortSpec }[] } {
  const specs: PortSpec[] = []
  const excluded: { text: string; spec: PortSpec }[] = []
  for (const text of texts.flatMap((value) => value.split(','))) {
    const spec = parsePortSpec(text)
    if (!text.includes('/')) for (const protocol of protocols) specs.push({ ...spec, protocol })
    else if (protocols.includes(spec.protocol)) specs.push(spec)
    else excluded.push({ text, spec })
  }
  return { specs, excluded }
}
