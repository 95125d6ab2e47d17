/// The fuzz tests run in child processes of this program under a heap limit, so that an allocation
/// bomb fails with OutOfMemoryException instead of passing on a machine with memory to spare. The
/// parent runs one child per group and fails with the child's report, which names the failed case.
module Hybrid.Tests.FuzzChild

open System
open System.Diagnostics
open Expecto

let private groups = [
    "stored text", FuzzTests.storedText
    "data files", FuzzTests.files
    "model file regressions", ModelFileFuzzTests.regressions
    "model file families", ModelFileFuzzTests.families
    "data file regressions", DataFileFuzzTests.regressions
    "data file families", DataFileFuzzTests.families
    "gzip damage", DataFileFuzzTests.gzipDamage
]

/// The fuzzed inputs are kilobytes, while the bombs the outside fuzzer found asked for 6 GB and more.
let private heapLimit = 1L <<< 30

/// Far above the few minutes a group takes on a busy machine: only a child that hangs outside the
/// per-case watchdog (see Fuzzing.guarded) gets near it.
let private overallLimit = TimeSpan.FromMinutes 30.0

/// Runs the named group's tests in this process, which must be under the heap limit; the exit code is Expecto's.
let child (group: string) =
    let available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes

    if available > heapLimit then
        eprintfn
            "the fuzz child must run under DOTNET_GCHeapHardLimit=0x%x, but %d bytes are available"
            heapLimit
            available

        2
    else
        groups |> List.find (fst >> (=) group) |> snd |> runTestsWithCLIArgs [] [||]

let private runChild (group: string) =
    let info =
        ProcessStartInfo("dotnet", RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)

    [ Reflection.Assembly.GetExecutingAssembly().Location; "--fuzz-child"; group ]
    |> List.iter info.ArgumentList.Add

    info.Environment["DOTNET_GCHeapHardLimit"] <- sprintf "0x%x" heapLimit
    use p = Process.Start info |> nonNull

    let output, error =
        p.StandardOutput.ReadToEndAsync(), p.StandardError.ReadToEndAsync()

    if not (p.WaitForExit overallLimit) then
        p.Kill true
        failtestf "the fuzz child for %s did not finish within %O" group overallLimit

    p.ExitCode, output.Result + error.Result

let tests =
    testList "fuzz" [
        for group, _ in groups do
            testCase (sprintf "%s (in a child process, heap limited to 1 GiB)" group)
            <| fun () ->
                match runChild group with
                | 0, _ -> ()
                | code, report -> failtestf "the child failed (exit code %d):\n%s" code report
    ]
