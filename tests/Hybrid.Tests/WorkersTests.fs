/// Several worker processes sharing one sweep through a PostgreSQL store: they split its trials
/// between them, take over the trials of a worker killed without warning, and end with the same
/// bits as one process running the sweep alone.
module Hybrid.Tests.WorkersTests

open System
open System.Diagnostics
open System.IO
open Expecto
open Hybrid
open Hybrid.Tests.Common
open Hybrid.Engine.Model

/// 40 trials of 30 full epochs: 8 configurations × 5 seeds, short enough for a test, long enough
/// for a kill to land mid-trial.
let private shared () : Sweep =
    { Sweep.create "shared" digits.Value with
        Base = { Settings.defaults with Epochs = 30; Patience = None }
        Space = [ M, ints [ 32; 64 ]; L, ints [ 16; 32 ]; Skip, skips [ SkipKind.Dense; SkipKind.None ] ]
        Strategy = Strategy.Grid 1
        Seeds = [ 0UL .. 4UL ] }

/// A worker process (tests/Hybrid.Tests run with `--sweep-worker LOCATION ROOT`): the shared sweep.
let worker (location: string) (root: string) : int =
    Environment.SetEnvironmentVariable("HYBRID_RUNS", root)
    Sweep.runOn location (shared ()) |> ignore
    0

let private withRoot (body: string -> unit) =
    let root = Path.Combine(Path.GetTempPath(), "hybrid-workers-" + Guid.NewGuid().ToString "N")
    try body root
    finally if Directory.Exists root then Directory.Delete(root, true)

/// Runs `body` with the runs folder at `root` (for this process's sweep calls), then restores it.
let private withRuns (root: string) (body: unit -> 'a) =
    let saved = Environment.GetEnvironmentVariable "HYBRID_RUNS"
    Environment.SetEnvironmentVariable("HYBRID_RUNS", root)
    try body ()
    finally Environment.SetEnvironmentVariable("HYBRID_RUNS", saved)

type private Worker =
    { Process: Process
      Output: Text.StringBuilder }

let private start (location: string) (root: string) =
    let info = ProcessStartInfo("dotnet", RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)
    [ Reflection.Assembly.GetExecutingAssembly().Location; "--sweep-worker"; location; root ] |> List.iter info.ArgumentList.Add
    // A short grace period keeps heartbeats frequent; this machine's dead workers are taken over at once anyway.
    info.Environment["HYBRID_GRACE_SECONDS"] <- "3"
    // A checkpoint after every epoch, so that the killed worker certainly has one to resume from.
    info.Environment["HYBRID_CHECKPOINT_SECONDS"] <- "0"
    let p = Process.Start info |> nonNull
    let output = Text.StringBuilder()
    let collect (e: DataReceivedEventArgs) = if not (isNull e.Data) then lock output (fun () -> output.AppendLine e.Data |> ignore)
    p.OutputDataReceived.Add collect
    p.ErrorDataReceived.Add collect
    p.BeginOutputReadLine()
    p.BeginErrorReadLine()
    { Process = p; Output = output }

/// Trials the process is running that have saved a checkpoint, by the worker column's pid.
let private checkpointedBy (location: string) (pid: int) =
    Postgres.scalar
        location
        (sprintf "SELECT count(*) FROM trials t JOIN checkpoints c ON c.trial_key = t.key WHERE t.status = 'running' AND t.worker LIKE '%%/%d/%%'" pid)
    |> Convert.ToInt32

let private runningBy (location: string) (pid: int) =
    use store = Store.connect location
    Store.results store "shared" |> List.filter (fun t -> t.State = TrialState.Running && t.Worker |> Option.exists (fun w -> w.Contains(sprintf "/%d/" pid)))

let private fingerprint (t: StoredTrial) =
    t.Key, t.State, t.ValidationAccuracy, t.ValidationLoss, t.TestAccuracy, t.TestLoss, t.KeptEpoch, t.History

let tests =
    testList "Workers" [
        testCase "4 workers share a 40-trial sweep; one killed mid-trial is taken over from its checkpoint; the bits match one process alone" <| fun () ->
            Postgres.withDatabase (fun location ->
                withRoot (fun root ->
                    (Store.connect location :> IDisposable).Dispose()
                    let workers = List.init 4 (fun i -> start location (Path.Combine(root, sprintf "worker-%d" i)))
                    let victim = workers.Head
                    let deadline = Stopwatch.StartNew()
                    while checkpointedBy location victim.Process.Id = 0 && deadline.Elapsed < TimeSpan.FromMinutes 3.0 do
                        Threading.Thread.Sleep 5
                    // Frozen first, so the trials it holds can be read before the others take them over.
                    Process.Start("kill", [ "-STOP"; string victim.Process.Id ]).WaitForExit()
                    let cutOff = runningBy location victim.Process.Id
                    let checkpointed = cutOff |> List.filter (fun t -> not t.History.IsEmpty)
                    victim.Process.Kill true
                    let killed = DateTime.UtcNow
                    victim.Process.WaitForExit()
                    Expect.isNonEmpty cutOff "the killed worker was running a trial"
                    let observer = Path.Combine(root, "observer")
                    let during = withRuns observer (fun () -> Sweep.reportOn location (shared ()))
                    Expect.stringContains (File.ReadAllText during.Markdown) "40 trials: " "a report while the sweep runs"
                    for w in workers.Tail do
                        Expect.isTrue (w.Process.WaitForExit(TimeSpan.FromMinutes 4.0)) "a surviving worker finished"
                        Expect.equal w.Process.ExitCode 0 (sprintf "a surviving worker succeeded: %s" (string w.Output))
                    use store = Store.connect location
                    let trials = Store.results store "shared"
                    Expect.equal trials.Length 40 "40 trials"
                    Expect.allEqual (trials |> List.map _.State) (TrialState.Finished Completed) "every trial completed"
                    let cutOffKeys = cutOff |> List.map _.Key |> Set.ofList
                    for t in trials do
                        let expected = if cutOffKeys.Contains t.Key then 2 else 1
                        Expect.equal t.Attempts expected (sprintf "trial %s claimed %d time(s)" t.Key expected)
                    let takenOver = trials |> List.filter (fun t -> cutOffKeys.Contains t.Key) |> List.choose _.StartedUtc
                    for started in takenOver do
                        // The time from a death to its takeover, for the record (the assertion is that it happened).
                        printfn "a trial of the killed worker was taken over %.2f s after the kill" (started - killed).TotalSeconds
                    let logs = workers.Tail |> List.map (fun w -> string w.Output) |> String.concat "\n"
                    Expect.isNonEmpty checkpointed "the killed worker had saved a checkpoint"
                    for t in checkpointed do
                        Expect.stringContains logs (sprintf "#%d seed %d: resumed after epoch" t.Configuration t.Seed) "taken over from its checkpoint"
                    let after = withRuns observer (fun () -> Sweep.reportOn location (shared ()))
                    Expect.stringContains (File.ReadAllText after.Markdown) "40 trials: 40 completed" "the report once it is done"
                    let password = string (Npgsql.NpgsqlConnectionStringBuilder location).Password
                    for file in Directory.GetFiles(root, "*", SearchOption.AllDirectories) |> Array.filter (fun f -> f.EndsWith ".html" || f.EndsWith ".md" || f.EndsWith ".csv") do
                        Expect.isFalse ((File.ReadAllText file).Contains password) (sprintf "%s holds no password" file)
                    Expect.isFalse (logs.Contains password) "the logs hold no password"
                    let alone = Path.Combine(root, "alone.db")
                    let single = withRuns (Path.Combine(root, "alone")) (fun () -> Sweep.runOn alone (shared ()))
                    Expect.equal (trials |> List.map fingerprint) (single.Trials |> List.map fingerprint) "the same metrics as one process alone"
                    use aloneStore = Store.connect alone
                    for t in trials do
                        Expect.equal (Store.model store t.Key) (Store.model aloneStore t.Key) (sprintf "trial %s's model, byte for byte" t.Key)))
    ]
