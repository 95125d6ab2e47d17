// Runs every check — the F# format check (Fantomas), the engine's xunit tests, the library's Expecto tests, and every script
// with a small budget — then lists the full name of every failed test, and prints as its last line
// `N passed, N failed` summing them all. Exits non-zero if anything failed. Usage: dotnet fsi scripts/test.fsx
open System
open System.Diagnostics
open System.IO
open System.Text.RegularExpressions
open System.Xml.Linq

let root = Path.GetFullPath(Path.Combine(__SOURCE_DIRECTORY__, ".."))

/// A suite's counts and the full names of its failed tests (for a script: the script and why).
type Outcome = { Suite: string; Passed: int; Failed: int; Failures: string list }

/// Where the test runners write their result files for this run.
let results = Directory.CreateTempSubdirectory("hybrid-test-results-").FullName

/// Runs a command, echoing its output as it comes, and returns its exit code and output.
let run (file: string) (arguments: string) (environment: (string * string) list) =
    let info =
        ProcessStartInfo(
            file,
            arguments,
            WorkingDirectory = root,
            RedirectStandardOutput = true,
            RedirectStandardError = true
        )

    for key, value in environment do
        info.Environment[key] <- value

    use p = new Process(StartInfo = info)
    let output = Text.StringBuilder()

    let echo (e: DataReceivedEventArgs) =
        if not (isNull e.Data) then
            lock output (fun () ->
                output.AppendLine e.Data |> ignore
                printfn "%s" e.Data)

    p.OutputDataReceived.Add echo
    p.ErrorDataReceived.Add echo
    p.Start() |> ignore
    p.BeginOutputReadLine()
    p.BeginErrorReadLine()
    p.WaitForExit()
    p.ExitCode, lock output (fun () -> output.ToString())

/// Runs a command quietly; fails the whole run with its output if it fails.
let must (file: string) (arguments: string list) =
    let info =
        ProcessStartInfo(file, RedirectStandardOutput = true, RedirectStandardError = true)

    arguments |> List.iter info.ArgumentList.Add
    use p = Process.Start info
    let output = p.StandardOutput.ReadToEndAsync()
    let errors = p.StandardError.ReadToEnd()
    p.WaitForExit()

    if p.ExitCode <> 0 then
        failwithf "%s %s failed (exit code %d): %s%s" file (String.concat " " arguments) p.ExitCode output.Result errors

// ---- A throwaway PostgreSQL server for the shared run store's tests ----

/// Where Debian keeps PostgreSQL's server programs (initdb, pg_ctl are not on PATH there).
let postgresPrograms () =
    if Directory.Exists "/usr/lib/postgresql" then
        Directory.GetDirectories "/usr/lib/postgresql"
        |> Array.sortDescending
        |> Array.map (fun version -> Path.Combine(version, "bin"))
        |> Array.tryFind (fun bin -> File.Exists(Path.Combine(bin, "initdb")))
    else
        None

/// PostgreSQL refuses to run as root: as root, its programs run as the postgres user.
let asPostgres (program: string) (arguments: string list) =
    if Environment.UserName = "root" then
        must "runuser" ([ "-u"; "postgres"; "--"; program ] @ arguments)
    else
        must program arguments

let freePort () =
    use listener = new Net.Sockets.TcpListener(Net.IPAddress.Loopback, 0)
    listener.Start()
    (listener.LocalEndpoint :?> Net.IPEndPoint).Port

/// Starts a server of its own (own data directory, a free port on 127.0.0.1, a random password, no
/// fsync: nothing in it outlives the run), runs `body` with its administrator's connection string in
/// HYBRID_TEST_POSTGRES, then stops it and deletes its directory.
let withPostgres (body: unit -> 'a) : 'a =
    match postgresPrograms () with
    | None ->
        printfn "PostgreSQL is not installed (Debian package: postgresql): the shared-store tests will fail"
        body ()
    | Some bin ->
        let directory = Directory.CreateTempSubdirectory("hybrid-postgres-").FullName

        let data, passwordFile =
            Path.Combine(directory, "data"), Path.Combine(directory, "password")

        let password = Guid.NewGuid().ToString "N"
        File.WriteAllText(passwordFile, password)

        if Environment.UserName = "root" then
            must "chown" [ "-R"; "postgres"; directory ]

        let port = freePort ()

        asPostgres (Path.Combine(bin, "initdb")) [
            "-D"
            data
            "-U"
            "hybrid"
            "--auth=scram-sha-256"
            "--pwfile=" + passwordFile
            "-E"
            "UTF8"
            "--no-sync"
        ]

        let options =
            sprintf "-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c max_connections=200" port directory

        asPostgres (Path.Combine(bin, "pg_ctl")) [
            "-D"
            data
            "-o"
            options
            "-l"
            Path.Combine(directory, "server.log")
            "-w"
            "start"
        ]

        printfn "PostgreSQL %s started on 127.0.0.1:%d for the tests" (Path.GetFileName(Path.GetDirectoryName bin)) port

        Environment.SetEnvironmentVariable(
            "HYBRID_TEST_POSTGRES",
            sprintf "Host=127.0.0.1;Port=%d;Username=hybrid;Password=%s;Database=postgres" port password
        )

        try
            body ()
        finally
            asPostgres (Path.Combine(bin, "pg_ctl")) [ "-D"; data; "-m"; "immediate"; "-w"; "stop" ]
            Directory.Delete(directory, true)

let count (pattern: string) (text: string) = Regex.Matches(text, pattern) |> Seq.sumBy (fun m -> int m.Groups[1].Value)

/// A suite that exits non-zero without reporting a failure still counts as one failure, named by its exit code.
let outcome suite exitCode passed failed failures =
    let failures =
        if exitCode <> 0 && List.isEmpty failures then
            [ sprintf "%s (exit code %d)" suite exitCode ]
        else
            failures

    {
        Suite = suite
        Passed = passed
        Failed = (if exitCode <> 0 && failed = 0 then 1 else failed)
        Failures = failures
    }

/// The elements of an XML result file with the given local name (none if the runner wrote no file).
let elements (file: string) (name: string) =
    if File.Exists file then
        XDocument.Load(file).Descendants()
        |> Seq.filter (fun e -> e.Name.LocalName = name)
        |> List.ofSeq
    else
        []

let attribute (name: string) (e: XElement) =
    match e.Attribute(XName.Get name) with
    | null -> ""
    | a -> a.Value

let build () =
    let code, _ = run "dotnet" "build Hybrid.sln -c Release -nologo -v quiet" []
    outcome "build" code 0 0 []

let xunit () =
    let trx = Path.Combine(results, "xunit.trx")

    let code, text =
        run
            "dotnet"
            $"test tests/Hybrid.Engine.Tests -c Release --no-build -nologo --results-directory {results} --logger trx;LogFileName=xunit.trx"
            []

    let failures =
        elements trx "UnitTestResult"
        |> List.filter (fun r -> attribute "outcome" r = "Failed")
        |> List.map (attribute "testName")

    outcome "xunit (Hybrid.Engine.Tests)" code (count @"Passed:\s+(\d+)" text) (count @"Failed:\s+(\d+)" text) failures

let expecto () =
    let junit = Path.Combine(results, "expecto.xml")

    let code, text =
        run
            "dotnet"
            $"run --project tests/Hybrid.Tests -c Release --no-build -- --colours 0 --no-spinner --junit-summary {junit}"
            []

    let summary =
        text.Split '\n'
        |> Array.filter (fun line -> line.Contains "EXPECTO!")
        |> String.concat "\n"

    let failures =
        elements junit "testcase"
        |> List.filter (fun t ->
            t.Elements()
            |> Seq.exists (fun e -> e.Name.LocalName = "failure" || e.Name.LocalName = "error"))
        |> List.map (attribute "name")

    outcome
        "Expecto (Hybrid.Tests)"
        code
        (count @"(\d+) passed" summary)
        (count @"(\d+) failed" summary + count @"(\d+) errored" summary)
        failures

/// A compiler diagnostic that is not an error (`file.fsx(3,9): warning FS0020: …`, or an FS3886 note):
/// a script users copy must compile clean, so a run that shows one fails.
let compilerNotes (output: string) =
    output.Split '\n'
    |> Array.filter (fun line -> Regex.IsMatch(line, @"\(\d+,\d+\): (warning|info) FS\d+"))
    |> List.ofArray

/// A script run: passed if it exits 0 and the compiler said nothing about it.
let scriptOutcome (name: string) (code: int) (output: string) =
    let notes =
        compilerNotes output
        |> List.map (fun line -> sprintf "%s: compiler %s" name (line.Trim()))

    let failures =
        (if code <> 0 then [ sprintf "%s (exit code %d)" name code ] else []) @ notes

    {
        Suite = name
        Passed = (if failures.IsEmpty then 1 else 0)
        Failed = (if failures.IsEmpty then 0 else 1)
        Failures = failures
    }

/// Every user-facing script, run as a user would but with a small budget (HYBRID_SMOKE=1). The
/// library's Release build is removed first, so the first script builds it as on a fresh clone.
let scripts () =
    let library = Path.Combine(root, "src", "Hybrid", "bin", "Release")

    if Directory.Exists library then
        Directory.Delete(library, true)

    Directory.GetFiles(Path.Combine(root, "scripts"), "*.fsx")
    |> Array.filter (fun f -> not ((Path.GetFileName f).StartsWith "_") && Path.GetFileName f <> "test.fsx")
    |> Array.sort
    |> Array.map (fun script ->
        let name = Path.GetRelativePath(root, script)
        printfn "--- %s (smoke budget)" name
        let code, output = run "dotnet" $"fsi {name}" [ ("HYBRID_SMOKE", "1") ]
        scriptOutcome name code output)
    |> List.ofArray

/// The main job once more, with its store on the PostgreSQL server: the same script, unchanged.
let sweepOnPostgres () =
    match Environment.GetEnvironmentVariable "HYBRID_TEST_POSTGRES" with
    | null -> []
    | server ->
        printfn "--- scripts/sweep.fsx with HYBRID_STORE on PostgreSQL (smoke budget)"
        let runs = Directory.CreateTempSubdirectory("hybrid-postgres-runs-").FullName

        let code, output =
            run "dotnet" "fsi scripts/sweep.fsx" [ "HYBRID_SMOKE", "1"; "HYBRID_STORE", server; "HYBRID_RUNS", runs ]

        Directory.Delete(runs, true)
        [ scriptOutcome "scripts/sweep.fsx (PostgreSQL store)" code output ]

/// The F# sources as Fantomas (pinned in .config/dotnet-tools.json, settings in .editorconfig) would
/// write them: a file it would change fails, named.
let format () =
    let restored, _ = run "dotnet" "tool restore" []

    let code, output =
        if restored <> 0 then
            restored, ""
        else
            run "dotnet" "fantomas --check src tests scripts" []

    let unformatted =
        output.Split '\n'
        |> Array.filter (fun line -> line.Contains "needs formatting")
        |> Array.map (fun line -> line.Trim())
        |> List.ofArray

    outcome "format (Fantomas)" code (if code = 0 then 1 else 0) (if code = 0 then 0 else 1) unformatted

let outcomes =
    [ format () ]
    @ match build () with
      | built when built.Failed > 0 -> [ built ]
      | _ -> withPostgres (fun () -> [ xunit (); expecto () ] @ scripts () @ sweepOnPostgres ())

Directory.Delete(results, true)

printfn ""

for r in outcomes do
    printfn "%-40s %5d passed, %d failed" r.Suite r.Passed r.Failed

match outcomes |> List.collect _.Failures with
| [] -> ()
| failures ->
    // Repeated here because the runners print them hundreds of lines above.
    printfn ""
    printfn "Failed:"
    failures |> List.iter (printfn "  %s")

let passed, failed =
    outcomes |> List.sumBy _.Passed, outcomes |> List.sumBy _.Failed

printfn "%d passed, %d failed" passed failed
exit (if failed = 0 then 0 else 1)
