import type { ApiErrorCode } from './errors.js'

/**
 * Hints in the API's own terms. The library's hints speak the CLI's language (`--port`,
 * `portwarden free`), which an HTTP client cannot act on: the answers a client can get are
 * worded here, and any other hint that names a CLI flag or command is left out rather than
 * passed on.
 */
const API_HINTS: Partial<Record<ApiErrorCode, (details: Record<string, unknown>) => string>> = {
  port_in_use: (details) => {
    const port = typeof details.port === 'number' ? details.port : 'PORT'
    const protocol = details.protocol === 'udp' ? '?protocol=udp' : ''
    if (details.kind === 'kernel')
      return `No process holds it: the kernel does (${String(details.description)}${typeof details.fix === 'string' ? `; released by ${details.fix} on the host` : ''}), so POST /api/ports/${port}/free cannot; leave out "port" to get a free one.`
    return `GET /api/ports/${port}${protocol} names the holder and POST /api/ports/${port}/free${protocol} stops it; or leave out "port" to get a free one.`
  },
  port_allocated: (details) =>
    typeof details.id === 'number'
      ? `Leave out "port" to get a free one, or release allocation ${details.id} first (DELETE /api/allocations/${details.id}).`
      : 'Leave out "port" to get a free one, or release the allocation that has it first (DELETE /api/allocations/ID).',
  range_exhausted: () =>
    'Give a wider "range" (e.g. "20000-20999"), or release allocations you no longer need (DELETE /api/allocations/ID).',
}

const CLI_WORDS = /(?:^|[\s`(])--[a-z]|`portwarden\b|\bportwarden [a-z]+ /

export function apiHint(
  code: ApiErrorCode,
  details: Record<string, unknown>,
  hint: string | undefined,
): string | undefined {
  const own = API_HINTS[code]
  if (own) return own(details)
  return hint !== undefined && !CLI_WORDS.test(hint) ? hint : undefined
}
