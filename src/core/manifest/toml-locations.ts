/**
 * Where each key and array element of a TOML document is written, by line. smol-toml gives
 * values without positions; errors about values (a bad port, an unknown key) must still name
 * the line, so the text is parsed once more by toml-eslint-parser, whose syntax tree keeps
 * them, and the line of every key path (`services.web.ports`) and array element
 * (`services.web.ports[1]`) is recorded.
 *
 * It only runs on text smol-toml has already accepted; it never throws, and a path it does not
 * know falls back to its nearest known ancestor (then line 1).
 * @module
 */
import { parseTOML } from 'toml-eslint-parser'
import type { AST } from 'toml-eslint-parser'

/** A path into the document: keys, and numbers for array indices. */
export type TomlPath = readonly (string | number)[]

export interface TomlLocations {
  /** The line (1-based) where this path, or its nearest recorded ancestor, is written. */
  lineOf(path: TomlPath): number
  /** The line of exactly this path, or undefined. */
  exactLineOf(path: TomlPath): number | undefined
}

const keyOf = (path: TomlPath) => JSON.stringify(path)

export function locateToml(text: string): TomlLocations {
  const lines = new Map<string, number>()
  try {
    recordTables(parseTOML(text, { tomlVersion: 'latest' }), lines)
  } catch {
    // Text the second parser refuses: every path falls back to line 1.
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

function recordTables(program: AST.TOMLProgram, lines: Map<string, number>): void {
  const first = (path: TomlPath, line: number) => {
    if (!lines.has(keyOf(path))) lines.set(keyOf(path), line)
  }
  /** The ancestors a dotted key or header creates, where they first appear. */
  const implicit = (path: TomlPath, line: number) => {
    for (let length = 1; length < path.length; length++) first(path.slice(0, length), line)
  }
  const keyValue = (table: TomlPath, node: AST.TOMLKeyValue) => {
    const path = [...table, ...node.key.keys.map((k) => (k.type === 'TOMLBare' ? k.name : k.value))]
    implicit(path, node.key.loc.start.line)
    lines.set(keyOf(path), node.key.loc.start.line)
    value(path, node.value)
  }
  const value = (path: TomlPath, node: AST.TOMLContentNode) => {
    if (node.type === 'TOMLArray') {
      node.elements.forEach((element, index) => {
        lines.set(keyOf([...path, index]), element.loc.start.line)
        value([...path, index], element)
      })
    } else if (node.type === 'TOMLInlineTable') {
      for (const entry of node.body) keyValue(path, entry)
    }
  }
  for (const node of program.body[0].body) {
    if (node.type === 'TOMLKeyValue') {
      keyValue([], node)
      continue
    }
    const line = node.key.loc.start.line
    const header = node.resolvedKey
    // `[[a]]`: `a` is where the first one is written; `a[1]` is the second one's header.
    const name = node.kind === 'array' ? header.slice(0, -1) : header
    implicit(name, line)
    if (node.kind === 'array') first(name, line)
    lines.set(keyOf(header), line)
    for (const entry of node.body) keyValue(header, entry)
  }
}
