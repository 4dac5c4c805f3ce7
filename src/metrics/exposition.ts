/**
 * Prometheus text exposition format 0.0.4: one `name{label="value",…} value` line per sample,
 * after `# HELP` and `# TYPE` lines. HELP text escapes `\` and newline; label values escape
 * `\`, `"` and newline; values are Go-style floats (`+Inf`, `-Inf`, `NaN`).
 */

export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

export function escapeHelp (text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')
}

export function escapeLabelValue (text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}

export function formatValue (n: number): string {
  if (Number.isNaN(n)) return 'NaN'
  if (n === Infinity) return '+Inf'
  if (n === -Infinity) return '-Inf'
  return String(n)
}

export function formatSample (name: string, labels: Record<string, string> | undefined, value: number): string {
  const keys = labels === undefined ? [] : Object.keys(labels)
  if (keys.length === 0) return `${name} ${formatValue(value)}\n`
  const parts = keys.map(k => `${k}="${escapeLabelValue(labels![k])}"`)
  return `${name}{${parts.join(',')}} ${formatValue(value)}\n`
}
