import type { Protocol } from '../types.js'

/** A port a service declares: `8080`, `9000/udp`, optionally named (`PORT_METRICS`). */
export interface RunPort {
  name: string | null
  protocol: Protocol
  port: number
}

/** `web-api` → `PORT_WEB_API`: upper case, every character outside A-Z and 0-9 becomes `_`. */
export function portVariable(name: string): string {
  return `PORT_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`
}

/**
 * The variables a started service sees: `PORT` (its first port), `PORT_<SERVICE>` (the same,
 * when the service has a name of its own), and `PORT_<NAME>` for every named port.
 */
export function portEnvironment(
  service: string | null,
  ports: readonly RunPort[],
): Record<string, string> {
  const env: Record<string, string> = {}
  const first = ports[0]
  if (!first) return env
  env.PORT = String(first.port)
  if (service !== null) env[portVariable(service)] = String(first.port)
  for (const port of ports) if (port.name !== null) env[portVariable(port.name)] = String(port.port)
  return env
}

/** `8080` for TCP, `9000/udp` for UDP: how run names ports in its sentences. */
export function formatRunPort(port: Pick<RunPort, 'protocol' | 'port'>): string {
  return port.protocol === 'tcp' ? String(port.port) : `${port.port}/udp`
}

/** `8080, 9000/udp` */
export function formatRunPorts(ports: readonly Pick<RunPort, 'protocol' | 'port'>[]): string {
  return ports.map(formatRunPort).join(', ')
}

/** `30 s`, `500 ms`, `1.5 s`, `2 min`: a waiting time in a sentence. */
export function formatWait(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 120_000) return `${Math.round(ms / 100) / 10} s`
  return `${Math.round(ms / 6000) / 10} min`
}
