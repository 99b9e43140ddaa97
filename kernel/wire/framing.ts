/**
 * The multipart wire format:
 *   [identities..., "<IDS|MSG>", signature, header, parent_header, metadata, content, buffers...]
 * Identities are zero or more arbitrary binary frames; everything before the delimiter is one.
 */
import { randomUUID } from "node:crypto";
import { DELIMITER, Header, Message, PROTOCOL_VERSION } from "./messages.js";
import { ReplayGuard, Signer } from "./signing.js";

const DELIMITER_BYTES = Buffer.from(DELIMITER, "latin1");

/** Why an incoming multipart message was rejected; `header` is set when it could be read. */
export class WireError extends Error {
  constructor(
    message: string,
    readonly identities: Buffer[] = [],
    readonly header?: Header,
  ) {
    super(message);
    this.name = "WireError";
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function parseJson(frame: Buffer, what: string, ids: Buffer[], header?: Header): unknown {
  try {
    return JSON.parse(frame.toString("utf8"));
  } catch (e) {
    throw new WireError(`malformed JSON in ${what}: ${(e as Error).message}`, ids, header);
  }
}

/**
 * Splits, verifies and decodes a received multipart message. Throws WireError naming what
 * was wrong (no delimiter, missing frames, bad or replayed signature, malformed JSON or header).
 */
export function parseMessage(
  frames: readonly Buffer[],
  signer: Signer,
  replay?: ReplayGuard,
): Message {
  let delim = -1;
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i];
    if (f.length === DELIMITER_BYTES.length && f.equals(DELIMITER_BYTES)) {
      delim = i;
      break;
    }
  }
  if (delim < 0) throw new WireError(`no "${DELIMITER}" delimiter among ${frames.length} frames`);
  const identities = frames.slice(0, delim).map((f) => Buffer.from(f));
  const rest = frames.slice(delim + 1);
  if (rest.length < 5) {
    throw new WireError(
      `missing frames: expected signature, header, parent_header, metadata and content after the delimiter, got ${rest.length} frame(s)`,
      identities,
    );
  }
  const signature = rest[0];
  const dicts = rest.slice(1, 5);
  if (!signer.verify(dicts, signature)) {
    throw new WireError(
      signature.length === 0 ? "unsigned message" : "bad HMAC signature",
      identities,
    );
  }
  if (replay && !replay.check(signature.toString("latin1"))) {
    throw new WireError("replayed signature (already seen)", identities);
  }
  const header = parseJson(dicts[0], "header", identities);
  if (!isObject(header)) throw new WireError("header is not a JSON object", identities);
  for (const field of ["msg_id", "msg_type"] as const) {
    if (typeof header[field] !== "string" || header[field] === "") {
      throw new WireError(`header.${field} is missing or not a string`, identities);
    }
  }
  const h = header as unknown as Header;
  const parent = parseJson(dicts[1], "parent_header", identities, h);
  const metadata = parseJson(dicts[2], "metadata", identities, h);
  const content = parseJson(dicts[3], "content", identities, h);
  if (!isObject(parent)) throw new WireError("parent_header is not a JSON object", identities, h);
  if (!isObject(metadata)) throw new WireError("metadata is not a JSON object", identities, h);
  if (!isObject(content)) throw new WireError("content is not a JSON object", identities, h);
  return {
    identities,
    header: h,
    parent_header: parent as Message["parent_header"],
    metadata,
    content,
    buffers: rest.slice(5).map((b) => Buffer.from(b)),
  };
}

/** What a sender supplies; the header is completed by `makeHeader`. */
export interface OutgoingMessage {
  identities: readonly Buffer[];
  header: Header;
  parent_header: Header | Record<string, never>;
  metadata: Record<string, unknown>;
  content: unknown;
  buffers?: readonly (Buffer | Uint8Array)[];
}

/** Serializes and signs a message into its frames. */
export function serializeMessage(msg: OutgoingMessage, signer: Signer): Buffer[] {
  const dicts = [
    Buffer.from(JSON.stringify(msg.header), "utf8"),
    Buffer.from(JSON.stringify(msg.parent_header), "utf8"),
    Buffer.from(JSON.stringify(msg.metadata), "utf8"),
    Buffer.from(JSON.stringify(msg.content), "utf8"),
  ];
  const out: Buffer[] = [];
  for (const id of msg.identities) out.push(id);
  out.push(DELIMITER_BYTES, Buffer.from(signer.sign(dicts), "latin1"), ...dicts);
  if (msg.buffers) {
    for (const b of msg.buffers) {
      out.push(Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    }
  }
  return out;
}

/** A fresh header: unique msg_id, ISO-8601 date, the protocol version moelab speaks. */
export function makeHeader(msgType: string, session: string, username = "moelab"): Header {
  return {
    msg_id: randomUUID(),
    session,
    username,
    date: new Date().toISOString(),
    msg_type: msgType,
    version: PROTOCOL_VERSION,
  };
}
