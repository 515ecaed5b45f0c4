/**
 * Where each key and array element of a TOML document is written, by line. smol-toml gives
 * values without positions; errors about values (a bad port, an unknown key) must still name
 * the line, so this scanner walks the text once more and records the line of every key path
 * (`services.web.ports`) and array element (`services.web.ports[1]`).
 *
 * It only ever runs on text that smol-toml has already accepted, so it can be a forgiving
 * scanner rather than a validating parser; it never throws, and a path it does not know falls
 * back to its nearest known ancestor (then line 1).
 * @module
 */

/** A path into the document: keys, and numbers for array indices. */
export type TomlPath = readonly (string | number)[]

export interface TomlLocations {
  /** The line (1-based) where this path, or its nearest recorded ancestor, is written. */
  lineOf(path: TomlPath): number
  /** The line of exactly this path, or undefined. */
  exactLineOf(path: TomlPath): number | undefined
}

const keyOf = (path: TomlPath) => JSON.stringify(path)

const BARE_KEY = /[A-Za-z0-9_-]/

export function locateToml(text: string): TomlLocations {
  const lines = new Map<string, number>()
  try {
    new Scanner(text, lines).document()
  } catch {
    // Best effort: whatever was recorded before the surprise still helps.
  }
  return {
    exactLineOf: (path) => lines.get(keyOf(path)),
    lineOf: (path) => {
      for (let length = path.length; length > 0; length--) {
        const line = lines.get(keyOf(path.slice(0, length)))
        if (line !== undefined) return line
      }
      return 1
    },
  }
}

class Scanner {
  private pos = 0
  private line = 1
  private readonly arrayTables = new Map<string, number>()

  private readonly text: string
  private readonly lines: Map<string, number>

  constructor(text: string, lines: Map<string, number>) {
    this.text = text
    this.lines = lines
  }

  document(): void {
    let table: (string | number)[] = []
    while (this.pos < this.text.length) {
      const before = this.pos
      this.skipBlank(true)
      if (this.pos >= this.text.length) break
      const c = this.text[this.pos]
      if (c === '[') {
        const arrayTable = this.text[this.pos + 1] === '['
        this.pos += arrayTable ? 2 : 1
        const key = this.key()
        this.skipSpaces()
        this.pos += arrayTable ? 2 : 1
        this.implicit(key)
        if (arrayTable) {
          if (!this.lines.has(keyOf(key))) this.lines.set(keyOf(key), this.line)
          const index = this.arrayTables.get(keyOf(key)) ?? 0
          this.arrayTables.set(keyOf(key), index + 1)
          table = [...key, index]
        } else {
          table = key
        }
        this.lines.set(keyOf(table), this.line)
      } else {
        this.keyValue(table)
      }
      if (this.pos === before) this.advance()
    }
  }

  /** `key = value` under `path`: the line of the key, of the tables it implies, and of its value. */
  private keyValue(path: readonly (string | number)[]): void {
    const key = [...path, ...this.key()]
    this.implicit(key)
    this.lines.set(keyOf(key), this.line)
    this.skipSpaces()
    if (this.text[this.pos] === '=') this.pos++
    this.skipSpaces()
    this.value(key)
  }

  /** Records the ancestors a dotted key or header creates, where they first appear. */
  private implicit(path: readonly (string | number)[]): void {
    for (let length = 1; length < path.length; length++) {
      const k = keyOf(path.slice(0, length))
      if (!this.lines.has(k)) this.lines.set(k, this.line)
    }
  }

  private value(path: readonly (string | number)[]): void {
    const c = this.text[this.pos]
    if (c === '"' || c === "'") {
      this.string()
    } else if (c === '[') {
      this.pos++
      for (let index = 0; this.pos < this.text.length; index++) {
        this.skipBlank(true)
        if (this.text[this.pos] === ']') {
          this.pos++
          return
        }
        const element = [...path, index]
        this.lines.set(keyOf(element), this.line)
        const before = this.pos
        this.value(element)
        this.skipBlank(true)
        if (this.text[this.pos] === ',') this.pos++
        else if (this.text[this.pos] !== ']' && this.pos === before) this.advance()
      }
    } else if (c === '{') {
      this.pos++
      while (this.pos < this.text.length) {
        this.skipBlank(true)
        if (this.text[this.pos] === '}') {
          this.pos++
          return
        }
        const before = this.pos
        this.keyValue(path)
        this.skipBlank(true)
        if (this.text[this.pos] === ',') this.pos++
        else if (this.text[this.pos] !== '}' && this.pos === before) this.advance()
      }
    } else {
      // A number, boolean or date: up to the next delimiter (dates may hold a space).
      while (this.pos < this.text.length && !/[,\]}#\n]/.test(this.text[this.pos] as string)) {
        this.pos++
      }
    }
  }

  /** A dotted key: `a.b."c d".'e'`. */
  private key(): string[] {
    const parts: string[] = []
    for (;;) {
      this.skipSpaces()
      const c = this.text[this.pos]
      if (c === '"' || c === "'") {
        parts.push(this.string())
      } else {
        const start = this.pos
        while (this.pos < this.text.length && BARE_KEY.test(this.text[this.pos] as string))
          this.pos++
        parts.push(this.text.slice(start, this.pos))
        if (this.pos === start) return parts
      }
      this.skipSpaces()
      if (this.text[this.pos] !== '.') return parts
      this.pos++
    }
  }

  /** Any of the four string forms; returns the key text it names (escapes decoded best-effort). */
  private string(): string {
    const quote = this.text[this.pos] as '"' | "'"
    const triple = this.text.startsWith(quote.repeat(3), this.pos)
    if (triple) {
      this.pos += 3
      const start = this.pos
      for (;;) {
        if (this.pos >= this.text.length) return this.text.slice(start)
        const c = this.text[this.pos]
        if (c === '\\' && quote === '"') {
          this.advance()
          this.advance()
          continue
        }
        if (this.text.startsWith(quote.repeat(3), this.pos)) {
          // Up to two more quotes belong to the string: `""""` ends with one quote inside.
          let end = this.pos + 3
          while (end < this.pos + 5 && this.text[end] === quote) end++
          const content = this.text.slice(start, end - 3)
          this.pos = end
          return content
        }
        this.advance()
      }
    }
    this.pos++
    const start = this.pos
    while (this.pos < this.text.length) {
      const c = this.text[this.pos]
      if (c === '\n') break
      if (c === '\\' && quote === '"') {
        this.pos += 2
        continue
      }
      if (c === quote) break
      this.pos++
    }
    const raw = this.text.slice(start, this.pos)
    if (this.text[this.pos] === quote) this.pos++
    if (quote === "'") return raw
    try {
      return JSON.parse(
        `"${raw.replace(/\\U([0-9a-fA-F]{8})/g, (_, hex: string) => codePointEscape(hex))}"`,
      ) as string
    } catch {
      return raw
    }
  }

  private skipSpaces(): void {
    while (this.text[this.pos] === ' ' || this.text[this.pos] === '\t') this.pos++
  }

  /** Spaces, comments and (when allowed) newlines. */
  private skipBlank(newlines: boolean): void {
    for (;;) {
      const c = this.text[this.pos]
      if (c === ' ' || c === '\t' || c === '\r') this.pos++
      else if (c === '\n' && newlines) this.advance()
      else if (c === '#') {
        while (this.pos < this.text.length && this.text[this.pos] !== '\n') this.pos++
      } else return
    }
  }

  private advance(): void {
    if (this.text[this.pos] === '\n') this.line++
    this.pos++
  }
}

function codePointEscape(hex: string): string {
  const code = Number.parseInt(hex, 16)
  const char = code <= 0x10ffff ? String.fromCodePoint(code) : '\ufffd'
  return char
    .split('')
    .map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    .join('')
}
