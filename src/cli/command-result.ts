/** What a command hands back to main.ts: data for --json, text for people, and its exit code. */
export interface CommandResult {
  exitCode: number
  /** The one JSON document printed with --json. */
  json: unknown
  /** Human output for stdout (already styled). */
  text: string
  /** Notes for stderr. */
  warnings: string[]
}

export interface GlobalOptions {
  json?: boolean
  backend?: string
}
