"""Drives the moelab kernel through jupyter_client as a front end would, from a notebook folder
outside the checkout, and prints one JSON object of what came back (editor-help.test.ts asserts).

Usage: /usr/bin/python3 editor_help.py NOTEBOOK_DIR SOAK_CELLS
"""

import json
import sys

from jupyter_client.manager import KernelManager

nb, soak = sys.argv[1], int(sys.argv[2])
km = KernelManager(kernel_name="moelab")
km.start_kernel(cwd=nb)
kc = km.client()
kc.start_channels()
kc.wait_for_ready(timeout=120)
out = {}


def run(code, **kw):
    """Executes a cell; returns (reply content, iopub messages up to and including idle)."""
    seen = []
    reply = kc.execute_interactive(code, output_hook=seen.append, timeout=180, **kw)
    return reply["content"], seen


def stderr(msgs):
    return "".join(
        m["content"]["text"]
        for m in msgs
        if m["msg_type"] == "stream" and m["content"]["name"] == "stderr"
    )


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return -1


try:
    reply, _ = run('import { Transformer } from "moelab";\nconst m = Transformer.create("tiny");')
    out["model_status"] = reply["status"]
    # Right after the reply, as a user pressing Tab would.
    out["complete_m"] = kc.complete("m.", 2, reply=True, timeout=60)["content"]
    code = "Transformer."
    out["complete_cls"] = kc.complete(code, len(code), reply=True, timeout=60)["content"]
    code = "Transformer.create"
    out["inspect_create"] = kc.inspect(code, len(code), 0, reply=True, timeout=60)["content"]

    reply, msgs = run("const bad: number = m")
    out["bad"] = {"status": reply["status"], "stderr": stderr(msgs), "types": [m["msg_type"] for m in msgs]}
    reply, msgs = run("m.hookPoints().filter((n) => n.includes('moe')).length")
    out["loose"] = {"status": reply["status"], "stderr": stderr(msgs)}

    reply, _ = run(
        "const k: number = 21;",
        user_expressions={"double": "k * 2", "missing": "notDefinedAnywhere + 1"},
    )
    out["user_expressions"] = reply["user_expressions"]

    bad = kc.history(hist_access_type="range", session=0, start="one", stop=None, reply=True, timeout=60)
    out["history_bad"] = bad["content"]
    good = kc.history(hist_access_type="tail", n=2, reply=True, timeout=60)
    out["history_good"] = good["content"]

    run("typecheck({ strict: true })")
    reply, msgs = run("function twice(x) { return x * 2; }\ntwice(2)")
    out["strict"] = {"status": reply["status"], "stderr": stderr(msgs)}
    run("typecheck({ strict: false })")
    reply, msgs = run("function thrice(x) { return x * 3; }\nthrice(2)")
    out["unstrict"] = {"status": reply["status"], "stderr": stderr(msgs)}

    reply, _ = run("k + 1")
    out["after_soak"] = reply["status"]
    out["complete_after_soak"] = kc.complete("m.runWith", 9, reply=True, timeout=60)["content"]["matches"]

    # The loop, in a kernel of its own (a fresh session, as the issue measured it).
    km2 = KernelManager(kernel_name="moelab")
    km2.start_kernel(cwd=nb)
    kc2 = km2.client()
    kc2.start_channels()
    kc2.wait_for_ready(timeout=120)
    try:
        pid = km2.provisioner.process.pid
        marks = {}
        for i in range(1, soak + 1):
            code = f"(globalThis as any).__soak = new Array(10000).fill({i}); __soak.length"
            reply = kc2.execute_interactive(code, output_hook=lambda m: None, timeout=180)["content"]
            if reply["status"] != "ok":
                raise RuntimeError(f"soak cell {i}: {reply}")
            if i % 5 == 0:
                marks[i] = rss(pid)
        out["soak_rss_mb"] = marks
        reply = kc2.execute_interactive("__soak[0]", output_hook=lambda m: None, timeout=60)
        out["soak_kept"] = reply["content"]["status"]
    finally:
        kc2.stop_channels()
        km2.shutdown_kernel(now=True)
finally:
    print("RESULT " + json.dumps(out), flush=True)
    kc.stop_channels()
    km.shutdown_kernel(now=True)
