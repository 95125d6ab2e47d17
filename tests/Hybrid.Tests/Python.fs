/// Runs Debian's Python (where CI installs python3-numpy and python3-onnx) for the cross-checks with
/// NumPy and the ONNX checker: a Hybrid file must open in the tools the rest of the ML world uses.
module Hybrid.Tests.Python

open System.ComponentModel
open System.Diagnostics
open Expecto

/// Debian's interpreter, not whichever python3 comes first on PATH: that is where python3-numpy lives.
let interpreter = "/usr/bin/python3"

/// Runs the interpreter with arguments; None when it cannot be started at all.
let run (args: string list) =
    let info =
        ProcessStartInfo(interpreter, RedirectStandardOutput = true, RedirectStandardError = true)

    args |> List.iter info.ArgumentList.Add

    try
        use python = Process.Start info |> nonNull
        let output = python.StandardOutput.ReadToEndAsync()
        let errors = python.StandardError.ReadToEnd()
        python.WaitForExit()
        Some(python.ExitCode, output.Result, errors)
    with :? Win32Exception ->
        None

/// Runs the test body when `python3-<name>` is importable. Without it the test fails in CI (which
/// installs the package, so its absence is a broken setup) and is skipped elsewhere, with the reason.
let private withModule (name: string) (check: string) (body: unit -> unit) =
    match run [ "-c"; "import " + name ] with
    | Some(0, _, _) -> body ()
    | _ when System.Environment.GetEnvironmentVariable "CI" = "true" ->
        failtestf "%s cannot import %s, but CI installs python3-%s: the %s cannot run" interpreter name name check
    | _ ->
        skiptest (
            sprintf "%s with %s is not available (CI installs python3-%s); %s skipped" interpreter name name check
        )

/// Runs the test body when NumPy is importable (see withModule).
let withNumpy (body: unit -> unit) = withModule "numpy" "NumPy cross-check" body

/// Runs the test body when the ONNX package, with its checker, is importable (see withModule).
let withOnnx (body: unit -> unit) = withModule "onnx" "ONNX checker" body

/// Runs a script and returns its standard output, failing the test on a non-zero exit.
let output (args: string list) =
    match run args with
    | Some(0, output, _) -> output
    | Some(code, _, errors) -> failtestf "%s exited with %d: %s" interpreter code errors
    | None -> failtestf "%s could not be started" interpreter
