"""jupyter_kernel_test (Debian 0.4.5) configured for the moelab TypeScript kernel.

Run by test/kernel/clients/kernel_test.test.ts with the kernelspec installed in a temporary
JUPYTER_PATH; by hand: `JUPYTER_PATH=... /usr/bin/python3 -m unittest -v kernel_test_moelab`.
"""

import unittest

import jupyter_kernel_test


class MoelabKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = "moelab"
    language_name = "typescript"
    file_extension = ".ts"

    code_hello_world = 'console.log("hello, world")'
    code_stderr = 'console.error("to stderr")'

    # Matches are compared as exact sets: members of lib.es2022 objects.
    completion_samples = [
        {"text": "Math.ab", "matches": ["abs"]},
        {"text": "JSON.str", "matches": ["stringify"]},
        {"text": "[1, 2].fil", "matches": ["fill", "filter"]},
    ]

    complete_code_samples = [
        "1 + 1",
        "const a = 1;",
        "function f(x: number): number { return x * 2; }",
        "let s = `ok ${1 + 1}`;",
    ]
    incomplete_code_samples = [
        "function f() {",
        "const xs = [1, 2,",
        "let s = `abc ${1",
        "1 +",
    ]
    invalid_code_samples = [
        "x = 1)",
        "const s = 'abc",
        "const = 5;",
        "1 +* 2",
    ]

    # The kernel's pager, without IPython's `?`: page(value) shows a value in the frontend's pager.
    code_page_something = 'page("moelab pages this text")'

    code_generate_error = 'throw new Error("boom")'

    code_execute_result = [
        {"code": "1 + 1", "result": "2"},
        {"code": "40 + 2", "result": "42"},
        {"code": "html`<b>bold</b>`", "mime": "text/html"},
    ]

    code_display_data = [
        {"code": "display(html`<b>hi</b>`)", "mime": "text/html"},
        {"code": "display(md`# Title`)", "mime": "text/markdown"},
        {"code": 'display(svg`<svg xmlns="http://www.w3.org/2000/svg"></svg>`)', "mime": "image/svg+xml"},
    ]

    # A glob matching exactly one distinct entry of code_execute_result.
    code_history_pattern = "40 + ?"
    supported_history_operations = ("tail", "range", "search")

    code_inspect_sample = "Math.max"

    code_clear_output = 'console.log("soon gone"); clear_output(false)'


if __name__ == "__main__":
    unittest.main()
