/**
 * Real clients (c): jupyter-server 1.23 (Debian) runs the kernel from its kernelspec, and
 * @jupyterlab/services drives it over the server's websocket, as JupyterLab does.
 */
import { strict as assert } from "node:assert";
import type { KernelMessage, Kernel } from "@jupyterlab/services";
import WebSocket from "ws";
import { needs } from "../../helpers/env.js";
import { needsKernel, tempJupyter, type TempJupyter } from "./kernelspec.js";
import { startServer, type Server } from "./jupyter-server.js";

type Services = typeof import("@jupyterlab/services");

describe("real clients: jupyter-server + @jupyterlab/services", function () {
  let jup: TempJupyter;
  let server: Server | undefined;
  let services: Services;
  let manager: Kernel.IManager;
  let kernel: Kernel.IKernelConnection;

  before(async function () {
    needs(this, "jupyter_server");
    needsKernel(this);
    this.timeout(120000);
    jup = tempJupyter();
    server = await startServer(jup.env, jup.dir);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    services = require("@jupyterlab/services") as Services;
    const serverSettings = services.ServerConnection.makeSettings({
      baseUrl: server.baseUrl,
      wsUrl: server.baseUrl.replace(/^http/, "ws"),
      token: server.token,
      appendToken: true,
      WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
      fetch: globalThis.fetch,
    });
    manager = new services.KernelManager({ serverSettings });
    await manager.ready;
    kernel = await manager.startNew({ name: "moelab" });
    const info = await kernel.info;
    assert.equal(info.language_info.name, "typescript");
  });

  after(async function () {
    this.timeout(30000);
    try {
      if (kernel && !kernel.isDisposed) await kernel.shutdown();
      manager?.dispose();
    } finally {
      await server?.stop();
      jup?.cleanup();
    }
  });

  async function execute(
    code: string,
  ): Promise<{ reply: KernelMessage.IExecuteReplyMsg; iopub: KernelMessage.IIOPubMessage[] }> {
    const iopub: KernelMessage.IIOPubMessage[] = [];
    const future = kernel.requestExecute({ code });
    future.onIOPub = (m) => {
      iopub.push(m);
    };
    const reply = (await future.done) as KernelMessage.IExecuteReplyMsg;
    return { reply, iopub };
  }

  it("executes code: stream output and execute_result", async () => {
    const { reply, iopub } = await execute(
      'const who: string = "lab";\nconsole.log(`hello ${who}`);\n6 * 7',
    );
    assert.equal(reply.content.status, "ok", server?.log());
    const stream = iopub.find((m) => m.header.msg_type === "stream") as KernelMessage.IStreamMsg;
    assert.ok(stream, JSON.stringify(iopub.map((m) => m.header.msg_type)));
    assert.equal(stream.content.text, "hello lab\n");
    const result = iopub.find(
      (m) => m.header.msg_type === "execute_result",
    ) as KernelMessage.IExecuteResultMsg;
    assert.equal(result.content.data["text/plain"], "42");
    const states = iopub
      .filter((m) => m.header.msg_type === "status")
      .map((m) => (m as KernelMessage.IStatusMsg).content.execution_state);
    assert.deepEqual(states, ["busy", "idle"]);
  });

  it("shows display data (HTML) sent by display()", async () => {
    const { reply, iopub } = await execute("display(html`<i>from ${who}</i>`)");
    assert.equal(reply.content.status, "ok");
    const shown = iopub.find(
      (m) => m.header.msg_type === "display_data",
    ) as KernelMessage.IDisplayDataMsg;
    assert.ok(shown, JSON.stringify(iopub.map((m) => m.header.msg_type)));
    assert.equal(shown.content.data["text/html"], "<i>from lab</i>");
  });

  it("completes with the TypeScript language service, knowing earlier cells", async () => {
    const code = "who.toUpp";
    const reply = await kernel.requestComplete({ code, cursor_pos: code.length });
    assert.equal(reply.content.status, "ok");
    if (reply.content.status !== "ok") return;
    assert.deepEqual(reply.content.matches, ["toUpperCase"]);
    assert.equal(reply.content.cursor_start, 4);
    assert.equal(reply.content.cursor_end, code.length);
  });

  it("reports errors with ename/evalue and keeps serving", async () => {
    const { reply, iopub } = await execute('throw new RangeError("out")');
    assert.equal(reply.content.status, "error");
    const err = iopub.find((m) => m.header.msg_type === "error") as KernelMessage.IErrorMsg;
    assert.equal(err.content.ename, "RangeError");
    assert.equal(err.content.evalue, "out");
    const again = await execute("who.length");
    assert.equal(again.reply.content.status, "ok");
  });
});
