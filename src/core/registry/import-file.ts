import { readFileSync } from 'node:fs'
import { PortwardenError, errnoOf } from '../errors.js'
import type { Protocol } from '../types.js'
import type { AllocationClaim } from './conflicts.js'
import { validateName } from './names.js'

/** Larger than any real registry file; keeps a mistaken path (a log, a dump) from eating memory. */
const MAX_IMPORT_BYTES = 16 * 1024 * 1024

/**
 * Reads the common JSON form other port tools keep:
 * `{"allocations": [{"port": 8080, "worktree": "review-GH-42", "service": "web"}]}`
 * (`project` may stand for `worktree`; `protocol` defaults to tcp). Duplicates are kept: finding
 * them is the point.
 */
export function readImportFile(path: string): AllocationClaim[] {
  let text: string
  try {
    const buffer = readFileSync(path)
    if (buffer.length > MAX_IMPORT_BYTES)
      throw bad(path, `it is ${buffer.length} bytes, more than the ${MAX_IMPORT_BYTES} accepted`)
    text = buffer.toString('utf8')
  } catch (error) {
    if (error instanceof PortwardenError) throw error
    const errno = errnoOf(error)
    throw new PortwardenError(
      'invalid_request',
      `Cannot read ${path}: ${errno === 'ENOENT' ? 'no such file' : errno === 'EISDIR' ? 'it is a directory' : (errno ?? 'error')}.`,
      {
        hint: 'Give the path of a JSON file like {"allocations": [{"port": 8080, "worktree": "name", "service": "web"}]}.',
      },
    )
  }
  return parseImportText(text, path)
}

function bad(path: string, why: string): PortwardenError {
  return new PortwardenError('invalid_request', `${path}: ${why}.`, {
    hint: 'Expected JSON like {"allocations": [{"port": 8080, "worktree": "review-GH-42", "service": "web", "protocol": "tcp"}]}.',
    details: { file: path },
  })
}

export function parseImportText(text: string, path: string): AllocationClaim[] {
  let document: unknown
  try {
    document = JSON.parse(text)
  } catch (error) {
    throw bad(path, `not valid JSON (${error instanceof Error ? error.message : 'parse error'})`)
  }
  const list =
    typeof document === 'object' && document !== null && !Array.isArray(document)
      ? (document as Record<string, unknown>).allocations
      : undefined
  if (!Array.isArray(list)) throw bad(path, 'there is no "allocations" array at the top level')
  return list.map((entry, index) => {
    const where = `allocations[${index}]`
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
      throw bad(path, `${where} is not an object`)
    const record = entry as Record<string, unknown>
    const port = record.port
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw bad(
        path,
        `${where}.port is ${JSON.stringify(port) ?? 'missing'}, not a port from 1 to 65535`,
      )
    }
    const project = record.worktree ?? record.project
    if (typeof project !== 'string')
      throw bad(path, `${where} has no "worktree" (or "project") string`)
    if (typeof record.service !== 'string') throw bad(path, `${where} has no "service" string`)
    const protocol = record.protocol ?? 'tcp'
    if (protocol !== 'tcp' && protocol !== 'udp')
      throw bad(path, `${where}.protocol is ${JSON.stringify(protocol)}, not "tcp" or "udp"`)
    try {
      validateName('project', project)
      validateName('service', record.service)
    } catch (error) {
      throw bad(
        path,
        `${where}: ${error instanceof Error ? error.message.replace(/\.$/, '') : 'invalid name'}`,
      )
    }
    return {
      project,
      service: record.service,
      protocol: protocol as Protocol,
      port,
      source: path,
      pid: null,
      worktree: null,
      entry: index,
    }
  })
}
