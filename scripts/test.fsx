// Runs every test suite — the engine's xunit tests, the library's Expecto tests, and every script
// with a small budget — then prints one line `N passed, N failed` summing them all.
// Exits non-zero if anything failed. Usage: dotnet fsi scripts/test.fsx
open System
open System.Diagnostics
open System.IO
open System.Text.RegularExpressions

let root = Path.GetFullPath(Path.Combine(__SOURCE_DIRECTORY__, ".."))

type Outcome = { Suite: string; Passed: int; Failed: int }

/// Runs a command, echoing its output as it comes, and returns its exit code and output.
let run (file: string) (arguments: string) (environment: (string * string) list) =
    let info = ProcessStartInfo(file, arguments, WorkingDirectory = root, RedirectStandardOutput = true, RedirectStandardError = true)
    for key, value in environment do info.Environment[key] <- value
    use p = new Process(StartInfo = info)
    let output = Text.StringBuilder()
    let echo (e: DataReceivedEventArgs) =
        if not (isNull e.Data) then
            lock output (fun () -> output.AppendLine e.Data |> ignore; printfn "%s" e.Data)
    p.OutputDataReceived.Add echo
    p.ErrorDataReceived.Add echo
    p.Start() |> ignore
    p.BeginOutputReadLine()
    p.BeginErrorReadLine()
    p.WaitForExit()
    p.ExitCode, lock output (fun () -> output.ToString())

let count (pattern: string) (text: string) =
    Regex.Matches(text, pattern) |> Seq.sumBy (fun m -> int m.Groups[1].Value)

/// A suite that exits non-zero without reporting a failure still counts as one failure.
let outcome suite exitCode passed failed =
    { Suite = suite; Passed = passed; Failed = (if exitCode <> 0 && failed = 0 then 1 else failed) }

let build () =
    let code, _ = run "dotnet" "build Hybrid.sln -c Release -nologo -v quiet" []
    outcome "build" code 0 0

let xunit () =
    let code, text = run "dotnet" "test tests/Hybrid.Engine.Tests -c Release --no-build -nologo" []
    outcome "xunit (Hybrid.Engine.Tests)" code (count @"Passed:\s+(\d+)" text) (count @"Failed:\s+(\d+)" text)

let expecto () =
    let code, text = run "dotnet" "run --project tests/Hybrid.Tests -c Release --no-build -- --colours 0 --no-spinner" []
    let summary = text.Split '\n' |> Array.filter (fun line -> line.Contains "EXPECTO!") |> String.concat "\n"
    outcome "Expecto (Hybrid.Tests)" code (count @"(\d+) passed" summary) (count @"(\d+) failed" summary + count @"(\d+) errored" summary)

/// Every user-facing script, run as a user would but with a small budget (HYBRID_SMOKE=1). The
/// library's Release build is removed first, so the first script builds it as on a fresh clone.
let scripts () =
    let library = Path.Combine(root, "src", "Hybrid", "bin", "Release")
    if Directory.Exists library then Directory.Delete(library, true)
    Directory.GetFiles(Path.Combine(root, "scripts"), "*.fsx")
    |> Array.filter (fun f -> not ((Path.GetFileName f).StartsWith "_") && Path.GetFileName f <> "test.fsx")
    |> Array.sort
    |> Array.map (fun script ->
        let name = Path.GetRelativePath(root, script)
        printfn "--- %s (smoke budget)" name
        let code, _ = run "dotnet" $"fsi {name}" [ "HYBRID_SMOKE", "1" ]
        { Suite = name; Passed = (if code = 0 then 1 else 0); Failed = (if code = 0 then 0 else 1) })
    |> List.ofArray

let results =
    match build () with
    | built when built.Failed > 0 -> [ built ]
    | _ -> [ xunit (); expecto () ] @ scripts ()

printfn ""
for r in results do
    printfn "%-40s %5d passed, %d failed" r.Suite r.Passed r.Failed
let passed, failed = results |> List.sumBy _.Passed, results |> List.sumBy _.Failed
printfn "%d passed, %d failed" passed failed
exit (if failed = 0 then 0 else 1)
