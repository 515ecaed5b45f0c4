import type { PortwardenErrorCode } from '../core/errors.js'

/** The spec's exit codes. The only table that turns error codes into exit statuses. */
export const EXIT = { ok: 0, no: 1, usage: 2, environment: 3 } as const

const EXIT_BY_CODE: Record<PortwardenErrorCode, number> = {
  invalid_request: EXIT.usage,
  port_in_use: EXIT.no,
  port_allocated: EXIT.no,
  range_exhausted: EXIT.no,
  not_found: EXIT.no,
  dependency_failed: EXIT.no,
  permission_denied: EXIT.environment,
  proc_unreadable: EXIT.environment,
  backend_unavailable: EXIT.environment,
  registry_locked: EXIT.environment,
  registry_corrupt: EXIT.environment,
  registry_unavailable: EXIT.environment,
}

export function exitCodeFor(code: PortwardenErrorCode): number {
  return EXIT_BY_CODE[code]
}
