// Public entry of the engine: the compiled NetworkPolicy evaluator and what its callers need.
export { PolicyEngine, type ApplyResult, type EngineOptions } from './engine.js'
export type { Explanation } from './describe.js'
export { ipv4ToNumber } from './ip.js'
