/**
 * The stdin channel: a cell's input() becomes an input_request to the frontend and waits for its
 * input_reply. At most one request waits at a time; cancel() settles it (interrupt, cell end,
 * restart, shutdown).
 */
import { OutgoingMessage, makeHeader } from "../wire/framing.js";
import type { Header, InputReply, InputRequest, Message } from "../wire/messages.js";

export interface StdinParts {
  /** Sends on the stdin socket; onError runs when it cannot be delivered. */
  send(msg: OutgoingMessage, onError: (e: Error) => void): void;
  /** The kernel's current session id, for the header. */
  session(): string;
  log(line: string): void;
}

interface PendingInput {
  msgId: string;
  resolve(value: string): void;
  reject(error: Error): void;
}

export class Stdin {
  private pendingInput: PendingInput | null = null;

  constructor(private readonly parts: StdinParts) {}

  /** Asks the frontend that sent `req` (an execute_request) for a line; resolves with its value. */
  request(req: Message, prompt: string, password: boolean, allowStdin: boolean): Promise<string> {
    if (!allowStdin) {
      return Promise.reject(
        new Error(
          "input is not available: this frontend does not support stdin (allow_stdin is false)",
        ),
      );
    }
    if (this.pendingInput)
      return Promise.reject(new Error("another input request is already waiting for an answer"));
    return new Promise<string>((resolve, reject) => {
      const header = makeHeader("input_request", this.parts.session());
      this.pendingInput = { msgId: header.msg_id, resolve, reject };
      const content: InputRequest = { prompt: String(prompt), password: Boolean(password) };
      // input_request goes to the identities of the shell request that ran the cell.
      this.parts.send(
        { identities: req.identities, header, parent_header: req.header, metadata: {}, content },
        (e) => this.cancel(`no frontend is connected to stdin (${e.message})`, header.msg_id),
      );
    });
  }

  /** Rejects the waiting request (only the one sent as `msgId`, when given); else a no-op. */
  cancel(reason: string, msgId?: string): void {
    const p = this.pendingInput;
    if (!p || (msgId !== undefined && p.msgId !== msgId)) return;
    this.pendingInput = null;
    p.reject(new Error(`input cancelled: ${reason}`));
  }

  /** A message arrived on stdin: an input_reply settles the waiting request. */
  receive(msg: Message): void {
    const type = msg.header.msg_type;
    if (type !== "input_reply") {
      this.parts.log(`dropped ${type} on stdin (only input_reply is expected there)`);
      return;
    }
    const p = this.pendingInput;
    const parentId = (msg.parent_header as Partial<Header>).msg_id;
    if (!p || (parentId !== undefined && parentId !== p.msgId)) {
      this.parts.log("dropped an input_reply that answers no pending input_request");
      return;
    }
    this.pendingInput = null;
    const { value } = msg.content as Partial<Record<keyof InputReply, unknown>>;
    p.resolve(typeof value === "string" ? value : String(value ?? ""));
  }
}
