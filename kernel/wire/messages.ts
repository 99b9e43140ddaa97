/**
 * The Jupyter messaging protocol's messages as TypeScript types, with the spec's own words
 * (jupyter_client docs/messaging.rst) as comments. moelab speaks protocol version 5.3.
 */

/** The protocol version moelab implements; every header it sends carries it. */
export const PROTOCOL_VERSION = "5.3";

/** The delimiter frame between the routing identities and the signed frames. */
export const DELIMITER = "<IDS|MSG>";

export interface Header {
  /** Typically UUID, must be unique per message. */
  msg_id: string;
  /** The session id of the sender (for the kernel: its own session, regenerated on restart). */
  session: string;
  username: string;
  /** ISO 8601 timestamp for when the message is created. */
  date: string;
  /** All recognized message type strings are listed below. */
  msg_type: string;
  /** The message protocol version. */
  version: string;
  /** Subshell id (5.5); carried through, unused here. */
  subshell_id?: string | null;
}

/** The header of the message being answered, or {} when there is none. */
export type ParentHeader = Header | Record<string, never>;

/** A decoded message. `parent_header` is {} when there is no parent. */
export interface Message<C = Record<string, unknown>> {
  /** Routing prefix: zero or more arbitrary binary frames (a topic on iopub). */
  identities: Buffer[];
  header: Header;
  parent_header: ParentHeader;
  metadata: Record<string, unknown>;
  content: C;
  /** Optional binary buffers: not signed, not JSON. */
  buffers: Buffer[];
}

export type Channel = "shell" | "control" | "stdin" | "iopub";

// ---- shell / control requests and replies ----

export interface ExecuteRequest {
  /** Source code to be executed by the kernel, one or more lines. */
  code: string;
  /** A boolean flag which, if True, signals the kernel to execute this code as quietly as possible. */
  silent?: boolean;
  /** If True, signals the kernel to populate history. Default: not silent. */
  store_history?: boolean;
  /** A dict mapping names to expressions to be evaluated in the user's dict. */
  user_expressions?: Record<string, string>;
  /** Some frontends do not support stdin requests; they set this to False. */
  allow_stdin?: boolean;
  /** If True, aborts the execution queue if an exception is encountered. */
  stop_on_error?: boolean;
}

export interface ErrorContent {
  /** Exception name, as a string. */
  ename: string;
  /** Exception value, as a string. */
  evalue: string;
  /** The traceback: a list of strings (ANSI allowed). */
  traceback: string[];
}

/** Any reply may instead report a failure: status 'error' with the exception's details. */
export type ErrorReply = { status: "error" } & ErrorContent;

export type ExecuteReply =
  | {
      status: "ok";
      /** The global kernel counter that increases by one with each request that stores history. */
      execution_count: number;
      /** Deprecated list of payload dicts. */
      payload: Record<string, unknown>[];
      /** Results for the user_expressions. */
      user_expressions: Record<string, unknown>;
    }
  | ({ status: "error"; execution_count: number } & ErrorContent);

export interface InspectRequest {
  /** The code context in which introspection is requested (may be up to an entire multiline cell). */
  code: string;
  /** The cursor position within 'code' (in unicode characters) where inspection is requested. */
  cursor_pos: number;
  /** 0 or 1: how much detail. */
  detail_level?: 0 | 1;
}

export interface InspectReply {
  status: "ok";
  /** Whether an object was found or not. */
  found: boolean;
  /** A mime-bundle, like a display_data message. */
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
}

export interface CompleteRequest {
  /** The code context in which completion is requested. */
  code: string;
  /** The cursor position within 'code' (in unicode characters) where completion is requested. */
  cursor_pos: number;
}

export interface CompleteReply {
  status: "ok";
  /** The list of all matches to the completion request. */
  matches: string[];
  /** The range of text that should be replaced by the above matches when a completion is accepted. */
  cursor_start: number;
  cursor_end: number;
  /** Information that frontend plugins might use for extra display information about completions. */
  metadata: Record<string, unknown>;
}

export interface HistoryRequest {
  /** If True, also return output history in the resulting dict. */
  output?: boolean;
  /** If True, return the raw input history, else the transformed input. */
  raw?: boolean;
  /** So far, this can be 'range', 'tail' or 'search'. */
  hist_access_type?: "range" | "tail" | "search";
  /** For range: a session number; positive absolute, 0 or negative relative to the current one. */
  session?: number;
  /** For range: the first line (inclusive). */
  start?: number;
  /** For range: the last line (exclusive); null or absent means to the end. */
  stop?: number | null;
  /** For tail and search: get the last n cells. */
  n?: number | null;
  /** For search: a glob pattern matched against the whole input. */
  pattern?: string;
  /** For search: only return unique inputs. */
  unique?: boolean;
}

/** An entry: (session, line_number, input) or (session, line_number, (input, output)). */
export type HistoryEntry = [number, number, string] | [number, number, [string, string | null]];

export interface HistoryReply {
  status: "ok";
  history: HistoryEntry[];
}

export interface IsCompleteRequest {
  /** The code entered so far as a multiline string. */
  code: string;
}

export interface IsCompleteReply {
  /** One of 'complete', 'incomplete', 'invalid', 'unknown'. */
  status: "complete" | "incomplete" | "invalid" | "unknown";
  /** If status is 'incomplete', indent should contain the characters to use to indent the next line. */
  indent?: string;
}

export interface ConnectReply {
  status: "ok";
  shell_port: number;
  iopub_port: number;
  stdin_port: number;
  hb_port: number;
  control_port: number;
}

export interface CommInfoRequest {
  /** Optional, the target name. */
  target_name?: string;
}

export interface CommInfoReply {
  status: "ok";
  /** A dictionary of the comms, indexed by uuids. */
  comms: Record<string, { target_name: string }>;
}

export interface LanguageInfo {
  /** Name of the programming language that the kernel implements. */
  name: string;
  /** Language version number. */
  version: string;
  /** mimetype for script files in this language. */
  mimetype: string;
  /** Extension including the dot, e.g. '.py'. */
  file_extension: string;
  /** Pygments lexer, for highlighting. */
  pygments_lexer?: string;
  /** Codemirror mode, for highlighting in the notebook. */
  codemirror_mode?: string | Record<string, unknown>;
  /** Nbconvert exporter, if notebooks written with this kernel should be exported with something other than the general 'script' exporter. */
  nbconvert_exporter?: string;
}

export interface KernelInfoReply {
  status: "ok";
  /** Version of messaging protocol. */
  protocol_version: string;
  /** The kernel implementation name. */
  implementation: string;
  /** Implementation version number. */
  implementation_version: string;
  /** Information about the language of code for the kernel. */
  language_info: LanguageInfo;
  /** A banner of information about the kernel, which may be displayed in console environments. */
  banner: string;
  /** A list of dictionaries, having keys 'text' and 'url'. */
  help_links: { text: string; url: string }[];
  /** Optional (5.5): features the kernel supports, e.g. "debugger", "kernel subshells". */
  supported_features?: string[];
}

export interface ShutdownRequest {
  /** False if final shutdown, or True if shutdown precedes a restart. */
  restart?: boolean;
}

export interface ShutdownReply {
  status: "ok";
  restart: boolean;
}

export interface InterruptReply {
  status: "ok";
}

// ---- comms ----

export interface CommOpen {
  comm_id: string;
  target_name: string;
  data: Record<string, unknown>;
  target_module?: string;
}

export interface CommMsg {
  comm_id: string;
  data: Record<string, unknown>;
}

export interface CommClose {
  comm_id: string;
  data: Record<string, unknown>;
}

// ---- stdin ----

export interface InputRequest {
  /** The text to show at the prompt. */
  prompt: string;
  /** Is the request for a password? If so, the frontend shouldn't echo input. */
  password: boolean;
}

export interface InputReply {
  /** The text entered by the user. */
  value: string;
}

// ---- iopub ----

export interface Status {
  /** When the kernel starts to handle a message, it will enter the 'busy' state and when it finishes, it will enter the 'idle' state. The kernel will publish state 'starting' exactly once at process startup. */
  execution_state: "busy" | "idle" | "starting";
}

export interface Stream {
  /** The name of the stream is one of 'stdout', 'stderr'. */
  name: "stdout" | "stderr";
  /** The text is an arbitrary string to be written to that stream. */
  text: string;
}

export interface DisplayData {
  /** The data dict contains key/value pairs, where the keys are MIME types. */
  data: Record<string, unknown>;
  /** Any metadata that describes the data. */
  metadata: Record<string, unknown>;
  /** Optional transient data introduced in 5.1: not persisted to a notebook (display_id). */
  transient: { display_id?: string };
}

export interface ExecuteInput {
  /** Source code to be executed, one or more lines. */
  code: string;
  /** The counter for this execution is also provided so that clients can display it. */
  execution_count: number;
}

export interface ExecuteResult extends DisplayData {
  /** The counter for this execution is also provided so that clients can display it. */
  execution_count: number;
}

export interface ClearOutput {
  /** Wait to clear the output until new output is available. */
  wait: boolean;
}

export interface IopubWelcome {
  /** The subscription topic that was just registered (5.5, XPUB). */
  subscription: string;
}

// ---- contents by msg_type ----

/** The content of each reply the kernel sends, by msg_type. */
export interface ReplyContents {
  execute_reply: ExecuteReply;
  inspect_reply: InspectReply;
  complete_reply: CompleteReply;
  history_reply: HistoryReply;
  is_complete_reply: IsCompleteReply;
  connect_reply: ConnectReply;
  comm_info_reply: CommInfoReply;
  kernel_info_reply: KernelInfoReply;
  shutdown_reply: ShutdownReply;
  interrupt_reply: InterruptReply;
}

export type ReplyType = keyof ReplyContents;
export type ReplyContent<T extends ReplyType> = ReplyContents[T];

/** The content of each message the kernel publishes on iopub, by msg_type. */
export interface IopubContents {
  status: Status;
  stream: Stream;
  display_data: DisplayData;
  /** Same content as display_data; transient.display_id names the display to update. */
  update_display_data: DisplayData;
  clear_output: ClearOutput;
  execute_input: ExecuteInput;
  execute_result: ExecuteResult;
  error: ErrorContent;
  comm_open: CommOpen;
  comm_msg: CommMsg;
  comm_close: CommClose;
  iopub_welcome: IopubWelcome;
}

export type IopubType = keyof IopubContents;
export type IopubContent<T extends IopubType> = IopubContents[T];
