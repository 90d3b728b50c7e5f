// The command table: one module per command, registered here by name. To add a command, write
// src/cli/<name>.ts exporting a Command and add one line below.
import type { Command } from './command.js'
import { explainCommand } from './explain.js'
import { labCommand } from './lab.js'
import { replayCommand } from './replay.js'
import { tapCommand } from './tap.js'
import { validateCommand } from './validate.js'
import { verdictCommand } from './verdict.js'

export const COMMANDS: ReadonlyMap<string, Command> = new Map(
  [verdictCommand, explainCommand, validateCommand, labCommand, tapCommand, replayCommand].map((c) => [c.name, c]),
)
