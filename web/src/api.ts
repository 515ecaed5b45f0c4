import { currentToken } from './token.js'

/** An answer other than 2xx, with the server's `{"error","message","details"}` when it sent one. */
export class ApiError extends Error {
  readonly status: number
  readonly code: string
  readonly details: Record<string, unknown>

  constructor(
    status: number,
    code: string,
    message: string,
    details: Record<string, unknown> = {},
  ) {
    super(message)
    this.status = status
    this.code = code
    this.details = details
  }
}

export function authHeaders(): Record<string, string> {
  const token = currentToken()
  return token === null ? {} : { Authorization: `Bearer ${token}` }
}

export async function api<T>(
  path: string,
  options: { method?: string; body?: unknown; signal?: AbortSignal } = {},
): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json', ...authHeaders() }
  if (options.body !== undefined) headers['Content-Type'] = 'application/json'
  let response: Response
  try {
    response = await fetch(path, {
      method: options.method ?? 'GET',
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
      credentials: 'omit',
    })
  } catch (error) {
    if (options.signal?.aborted) throw error
    throw new ApiError(
      0,
      'unreachable',
      'The server did not answer: is `portwarden serve` still running?',
    )
  }
  const text = await response.text()
  let body: unknown = null
  try {
    body = text === '' ? null : JSON.parse(text)
  } catch {
    // not JSON: reported below by status
  }
  if (response.ok) return body as T
  const error = (body ?? {}) as { error?: unknown; message?: unknown; details?: unknown }
  throw new ApiError(
    response.status,
    typeof error.error === 'string' ? error.error : `http_${response.status}`,
    typeof error.message === 'string'
      ? error.message
      : `The server answered ${response.status} ${response.statusText}.`,
    typeof error.details === 'object' && error.details !== null
      ? (error.details as Record<string, unknown>)
      : {},
  )
}
