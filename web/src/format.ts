import type { WireHolder, WireSocket } from './wire.js'

/** The local address as `ss` shows it: `*` for any address (0.0.0.0 or ::). */
export function hostOf(address: string): string {
  return address === '0.0.0.0' || address === '::' ? '*' : address
}

/** `127.0.0.1:8080`, `[::1]:8080`, `*:8080` for the any-address. */
export function endpoint(address: string, port: number): string {
  const host = hostOf(address)
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

export function protocolLabel(socket: Pick<WireSocket, 'protocol' | 'family'>): string {
  return `${socket.protocol.toUpperCase()} ${socket.family === 'ipv6' ? 'IPv6' : 'IPv4'}`
}

/** Seconds since the oldest holder started, or null when no holder is known. */
export function uptimeSeconds(socket: WireSocket, now: number): number | null {
  let oldest: number | null = null
  for (const holder of socket.processes) {
    const started = Date.parse(holder.started_at ?? '')
    if (Number.isFinite(started) && (oldest === null || started < oldest)) oldest = started
  }
  return oldest === null ? null : Math.max(0, Math.floor((now - oldest) / 1000))
}

/** `45s`, `12m`, `3h 5m`, `4d 2h`. */
export function duration(seconds: number): string {
  if (seconds < 60) return `${seconds}s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 60) return `${minutes}m`
  const hours = Math.floor(minutes / 60)
  if (hours < 24) return `${hours}h ${minutes % 60}m`
  return `${Math.floor(hours / 24)}d ${hours % 24}h`
}

/** `node (pid 4242)`, the form of the CLI's sentences. */
export function holderName(holder: WireHolder | WireSocket['processes'][number]): string {
  if (holder.kind === 'kernel') return `the kernel: ${holder.description}`
  return `${holder.name} (pid ${holder.pid})`
}

export function timeAgo(iso: string | null, now: number): string {
  if (!iso) return 'never'
  const at = Date.parse(iso)
  return Number.isFinite(at) ? `${duration(Math.max(0, Math.floor((now - at) / 1000)))} ago` : iso
}
