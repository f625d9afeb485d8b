"""jupyter_kernel_test's conformance suite for Python kernels, for the kernel named in
$JK8S_TEST_KERNEL (run by test_kernels_conformance.py in a subprocess: once against a local
ipykernel, once against a remote kernel in a pod). Not collected on its own."""

from __future__ import annotations

import os

import jupyter_kernel_test as jkt

KERNEL = os.environ.get("JK8S_TEST_KERNEL", "python3")


class PythonKernelTests(jkt.KernelTests):
    kernel_name = KERNEL
    language_name = "python"
    file_extension = ".py"
    code_hello_world = "print('hello, world')"
    code_stderr = "import sys; print('test', file=sys.stderr)"
    completion_samples = [{"text": "zi", "matches": {"zip"}}]
    complete_code_samples = ["1", "print('hello, world')", "def f(x):\n  return x*2\n\n\n"]
    incomplete_code_samples = ['print("""hello', "def f(x):\n  x*2"]
    invalid_code_samples = ["import = 7q"]
    code_page_something = "zip?"
    code_generate_error = "raise"
    code_execute_result = [
        {"code": "1+2+3", "result": "6"},
        {"code": "[n*n for n in range(1, 4)]", "result": "[1, 4, 9]"},
    ]
    code_display_data = [
        {
            "code": "from IPython.display import HTML, display; display(HTML('<b>test</b>'))",
            "mime": "text/html",
        },
        {
            "code": "from IPython.display import Math, display; display(Math('\\\\frac{1}{2}'))",
            "mime": "text/latex",
        },
    ]
    code_history_pattern = "1?2*"
    supported_history_operations = ("tail", "search")
    code_inspect_sample = "zip"
    code_clear_output = "from IPython.display import clear_output; clear_output()"


class PythonIopubWelcomeTests(jkt.IopubWelcomeTests):
    kernel_name = KERNEL
    support_iopub_welcome = True

    def test_recv_iopub_welcome_msg(self) -> None:
        """The suite's own test, unchanged; a failure also shows the messages it got (CI saw
        a `stream` before `iopub_welcome` once, and the bare assertion says nothing of it)."""
        got: list[dict] = []
        read = self.kc.get_iopub_msg

        def recording(*args, **kwargs):
            msg = read(*args, **kwargs)
            got.append(msg)
            return msg

        self.kc.get_iopub_msg = recording  # type: ignore[method-assign]
        try:
            super().test_recv_iopub_welcome_msg()
        except AssertionError as exc:
            seen = [(m.get("msg_type"), m.get("content")) for m in got]
            raise AssertionError(f"{exc}; iopub messages received: {seen!r}"[:1200]) from None
        finally:
            self.kc.get_iopub_msg = read  # type: ignore[method-assign]
