/** What a command hands back to main.ts: data for --json, text for people, and its exit code. */
export interface CommandResult {
  exitCode: number
  /** The one JSON document printed with --json. */
  json: unknown
  /** The same document already rendered, for outputs too large to build as objects first. */
  jsonText?: string
  /** The same again in pieces, written as they are made (`list --json` at 100k sockets). */
  jsonChunks?: Iterable<string | Uint8Array>
  /** Human output for stdout (already styled). */
  text: string
  /** Warnings for stderr. */
  warnings: string[]
  /** Informational lines for stderr (what was done), kept off stdout so scripts can read it. */
  notes?: string[]
}

export interface GlobalOptions {
  json?: boolean
  backend?: string
}
