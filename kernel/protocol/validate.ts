/**
 * Reading fields of a request's content, which comes from the network: a field of the wrong type
 * throws BadRequest, which the kernel answers with an error reply naming the field.
 */

/** A request whose content failed validation; answered with an error reply naming the field. */
export class BadRequest extends Error {}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** content[field] as a string; `type` (the msg_type) names the request in the error. */
export function str(content: Record<string, unknown>, field: string, type: string): string {
  const v = content[field];
  if (typeof v !== "string") throw new BadRequest(`${type}: content.${field} must be a string`);
  return v;
}

/** content[field] as a non-negative integer (a cursor position, say). */
export function int(content: Record<string, unknown>, field: string, type: string): number {
  const v = content[field];
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
    throw new BadRequest(`${type}: content.${field} must be a non-negative integer`);
  }
  return v;
}

/** content[field] when it is a JSON object, else {} (optional dicts such as comm data). */
export function dict(content: Record<string, unknown>, field: string): Record<string, unknown> {
  const v = content[field];
  return isObject(v) ? v : {};
}
