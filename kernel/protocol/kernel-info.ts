/** What the kernel tells frontends about itself: the content of every kernel_info_reply. */
import { KernelInfoReply, PROTOCOL_VERSION } from "../wire/messages.js";

export function kernelInfoReply(
  implementationVersion: string,
  typescriptVersion: string,
): KernelInfoReply {
  return {
    status: "ok",
    protocol_version: PROTOCOL_VERSION,
    implementation: "moelab",
    implementation_version: implementationVersion,
    language_info: {
      name: "typescript",
      version: typescriptVersion,
      mimetype: "text/typescript",
      file_extension: ".ts",
      pygments_lexer: "typescript",
      // A MIME CodeMirror 5 knows (javascript.js defines it; meta.js maps it to that file):
      // classic Notebook gives this very value to the cells it creates later, so a bare mode
      // name ("typescript") would leave them unhighlighted. JupyterLab finds TypeScript by it too.
      codemirror_mode: "application/typescript",
      nbconvert_exporter: "script",
    },
    banner:
      `moelab ${implementationVersion}: TypeScript ${typescriptVersion} on Node ${process.version}\n` +
      `Cells are TypeScript; import { Transformer } from "moelab" to build a model.`,
    help_links: [
      {
        text: "TypeScript Handbook",
        url: "https://www.typescriptlang.org/docs/handbook/intro.html",
      },
      { text: "Node.js API", url: "https://nodejs.org/api/" },
    ],
  };
}
