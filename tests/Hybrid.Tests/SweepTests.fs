/// Sweeps end to end: a sweep killed mid-run and run again finishes with every trial run exactly
/// once, the cut-off trials continued from their checkpoints, and the same bits as a run never killed.
module Hybrid.Tests.SweepTests

open System
open System.Diagnostics
open System.IO
open Expecto
open Microsoft.Data.Sqlite
open Hybrid
open Hybrid.Tests.Common
open Hybrid.Engine.Model

/// 12 trials long enough (40 full epochs) for a kill to land mid-trial.
let private resumable () : Sweep = {
    Sweep.create "resume" digits.Value with
        Base = { Settings.defaults with Epochs = 40; Patience = None }
        Space = [ M, ints [ 64; 128 ]; Skip, skips [ SkipKind.Dense; SkipKind.None ] ]
        Strategy = Strategy.Grid 1
}

/// The child process's work (tests/Hybrid.Tests run with `--sweep-child ROOT`): the sweep, until killed.
let child (root: string) : int =
    Environment.SetEnvironmentVariable("HYBRID_RUNS", root)
    Sweep.run (resumable ()) |> ignore
    0

/// Runs `body` with a fresh temporary folder, deleted afterwards.
let withRoot (body: string -> unit) = Common.withTempDirectory "hybrid-sweep-" body

/// Runs the sweep in this process with its runs folder at `root`.
let runAt (root: string) (sweep: Sweep) =
    let saved = Environment.GetEnvironmentVariable "HYBRID_RUNS"
    Environment.SetEnvironmentVariable("HYBRID_RUNS", root)

    try
        Sweep.run sweep
    finally
        Environment.SetEnvironmentVariable("HYBRID_RUNS", saved)

/// One value from the sweep's database, read beside whatever process may be writing it.
let private scalar (database: string) (sql: string) =
    use connection =
        new SqliteConnection(sprintf "Data Source=%s;Mode=ReadOnly;Pooling=False" database)

    connection.Open()
    use command = connection.CreateCommand()
    command.CommandText <- sql
    command.ExecuteScalar()

let private count database sql = Convert.ToInt32(scalar database sql)

/// This test program again, running the sweep with its runs folder at `root` (see `child`).
let private startChild (root: string) =
    let info =
        ProcessStartInfo("dotnet", RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)

    [ Reflection.Assembly.GetExecutingAssembly().Location; "--sweep-child"; root ]
    |> List.iter info.ArgumentList.Add
    // A checkpoint after every epoch, so that a kill certainly cuts off a trial that has one.
    info.Environment["HYBRID_CHECKPOINT_SECONDS"] <- "0"
    Process.Start info |> nonNull

/// Waits until the child's sweep holds a checkpoint of a running trial, and freezes the child
/// (SIGSTOP) there; tries again if the trial finished before the freeze landed.
let rec private freezeWithCheckpoint (child: Process) (database: string) =
    let checkpoints () = count database "SELECT COUNT(*) FROM checkpoints"

    awaitSome "a checkpoint in the child's sweep" (fun () ->
        if child.HasExited then
            failtestf "the sweep ended before the kill: %s" (child.StandardError.ReadToEnd())

        if checkpoints () > 0 then Some() else None)

    signal "STOP" child

    if checkpoints () = 0 then
        signal "CONT" child
        freezeWithCheckpoint child database

/// Starts the child, waits until `finished` trials are reported and a running trial has saved a
/// checkpoint, freezes it there (so the kill certainly cuts that trial off), then kills it.
let private killAfter (root: string) (finished: int) =
    use child = startChild root
    let mutable seen = 0

    while seen < finished do
        match child.StandardOutput.ReadLine() with
        | null -> failtestf "the sweep ended before the kill: %s" (child.StandardError.ReadToEnd())
        | line when line.StartsWith "#" && not (line.Contains "resumed") -> seen <- seen + 1
        | _ -> ()

    freezeWithCheckpoint child (Path.Combine(root, "resume", "sweep.db"))
    child.Kill true
    child.WaitForExit()
    seen

/// Starts the child and kills it without warning after `delay`, whatever it is doing then.
let private killAt (root: string) (delay: TimeSpan) =
    use child = startChild root
    child.OutputDataReceived.Add ignore
    child.ErrorDataReceived.Add ignore
    child.BeginOutputReadLine()
    child.BeginErrorReadLine()

    if not (child.WaitForExit delay) then
        child.Kill true

    child.WaitForExit()

let private fingerprint (t: StoredTrial) =
    t.Key, t.State, t.ValidationAccuracy, t.ValidationLoss, t.TestAccuracy, t.TestLoss, t.KeptEpoch, t.History

let tests =
    testList "Sweep" [
        testCase
            "a sweep killed mid-run resumes: every trial once, cut-off trials from their checkpoints, the same bits"
        <| fun () ->
            withRoot (fun root ->
                let seen = killAfter (Path.Combine(root, "killed")) 4
                Expect.isGreaterThanOrEqual seen 4 "trials reported before the kill"
                let database = Path.Combine(root, "killed", "resume", "sweep.db")

                let finishedBefore =
                    count database "SELECT COUNT(*) FROM trials WHERE status = 'completed'"

                let checkpoints = count database "SELECT COUNT(*) FROM checkpoints"
                Expect.isGreaterThanOrEqual finishedBefore 4 "finished trials survived the kill"
                Expect.isGreaterThanOrEqual checkpoints 1 "a trial was cut off after an epoch, with its checkpoint"
                let resumed = runAt (Path.Combine(root, "killed")) (resumable ())

                Expect.equal
                    (resumed.Tally.Finished - resumed.Tally.Skipped)
                    (12 - finishedBefore)
                    "only the unfinished trials ran again"

                Expect.equal (count database "SELECT COUNT(*) FROM checkpoints") 0 "no checkpoint left behind"
                let clean = runAt (Path.Combine(root, "clean")) (resumable ())

                Expect.equal
                    (resumed.Trials |> List.map fingerprint)
                    (clean.Trials |> List.map fingerprint)
                    "same results as a run never killed"

                use resumedStore = Store.openAt resumed.Database
                use cleanStore = Store.openAt clean.Database

                for t in resumed.Trials do
                    Expect.equal
                        (Store.model resumedStore t.Key)
                        (Store.model cleanStore t.Key)
                        (sprintf "trial %s's model, byte for byte" t.Key)

                Expect.isTrue (resumed.Trials |> List.exists (fun t -> t.Attempts = 2)) "a cut-off trial was resumed")
        testCase
            "killed at random moments again and again, the sweep still ends with every trial once and the same bits"
        <| fun () ->
            withRoot (fun root ->
                let killed = Path.Combine(root, "killed")
                let database = Path.Combine(killed, "resume", "sweep.db")
                let rng = Hybrid.Engine.Model.Rng 2026UL

                for attempt in 1..6 do
                    // from start-up (≈1 s) through trials, checkpoints, model files and the report
                    killAt killed (TimeSpan.FromMilliseconds(800.0 + 3000.0 * rng.NextDouble()))

                    if File.Exists database then
                        Expect.equal
                            (string (scalar database "PRAGMA integrity_check"))
                            "ok"
                            (sprintf "integrity after kill %d" attempt)

                let resumed = runAt killed (resumable ())
                let clean = runAt (Path.Combine(root, "clean")) (resumable ())

                Expect.equal
                    (count database "SELECT COUNT(*) FROM trials WHERE status = 'completed'")
                    12
                    "every trial completed, once"

                Expect.equal
                    (resumed.Trials |> List.map fingerprint)
                    (clean.Trials |> List.map fingerprint)
                    "same results as a run never killed"

                let html = File.ReadAllText resumed.Report.Html
                Expect.isTrue (html.TrimEnd().EndsWith "</html>") "the report is whole")
        testCase "the best model is saved as safetensors and as ONNX giving the same probabilities"
        <| fun () ->
            withRoot (fun root ->
                let sweep = {
                    resumable () with
                        Base = { (resumable ()).Base with Epochs = 2 }
                        Seeds = [ 0UL ]
                }

                let outcome = runAt root sweep
                let best = Path.Combine(outcome.Directory, "best")
                let model = ModelFile.load (Path.Combine(best, "model.safetensors"))
                let test = sweep.Data.Split.Test
                let runtime = OnnxRuntime.probabilities (Path.Combine(best, "model.onnx")) test

                Expect.isLessThanOrEqual
                    (OnnxRuntime.largestDifference runtime (Model.probabilities model test))
                    1e-5
                    "max |p_onnx − p_hybrid|")
        testCase "running a finished sweep again runs nothing"
        <| fun () ->
            withRoot (fun root ->
                let sweep = { resumable () with Base = { (resumable ()).Base with Epochs = 2 } }

                let first = runAt root sweep
                let again = runAt root sweep
                Expect.equal again.Tally.Skipped 12 "every trial was already finished"
                Expect.equal again.Tally.Finished 12 "and nothing else ran"
                let best = first.Best.Value

                Expect.equal
                    (Best.describe again.Best)
                    (sprintf
                        "best configuration #%d: %s\n  validation accuracy %s, test accuracy %s"
                        best.Configuration
                        (ReportFormat.settings best.Values)
                        (ReportFormat.percent best.ValidationAccuracy)
                        (ReportFormat.percent best.TestAccuracy))
                    "the same best, printed from the store"

                Expect.equal (Best.describe None) "no trial completed" "a sweep without a completed trial")
        testCase "a sweep name cannot leave the runs folder"
        <| fun () ->
            for name in [ "../escape"; "/etc"; "a/b"; ".hidden"; "nul\000byte"; "" ] do
                Expect.throwsT<ArgumentException> (fun () -> directoryOf name |> ignore) (sprintf "%A is refused" name)
    ]
