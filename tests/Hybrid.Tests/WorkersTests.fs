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
let private shared () : Sweep = {
    Sweep.create "shared" digits.Value with
        Base = { Settings.defaults with Epochs = 30; Patience = None }
        Space = [
            M, ints [ 32; 64 ]
            L, ints [ 16; 32 ]
            Skip, skips [ SkipKind.Dense; SkipKind.None ]
        ]
        Strategy = Strategy.Grid 1
        Seeds = [ 0UL .. 4UL ]
}

/// A worker process (tests/Hybrid.Tests run with `--sweep-worker LOCATION ROOT`): the shared sweep.
let worker (location: string) (root: string) : int =
    Environment.SetEnvironmentVariable("HYBRID_RUNS", root)
    Sweep.runOn location (shared ()) |> ignore
    0

let private withRoot (body: string -> unit) =
    let root =
        Path.Combine(Path.GetTempPath(), "hybrid-workers-" + Guid.NewGuid().ToString "N")

    try
        body root
    finally
        if Directory.Exists root then
            Directory.Delete(root, true)

/// Runs `body` with the runs folder at `root` (for this process's sweep calls), then restores it.
let private withRuns (root: string) (body: unit -> 'a) =
    let saved = Environment.GetEnvironmentVariable "HYBRID_RUNS"
    Environment.SetEnvironmentVariable("HYBRID_RUNS", root)

    try
        body ()
    finally
        Environment.SetEnvironmentVariable("HYBRID_RUNS", saved)

type private Worker = {
    Process: Process
    /// The application name its store connections carry, by which the server's view of them
    /// (pg_stat_activity) tells this worker's connections from the others'.
    Name: string
    Output: Text.StringBuilder
}

let private start (location: string) (root: string) (name: string) =
    let info =
        ProcessStartInfo("dotnet", RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)

    let named =
        Npgsql.NpgsqlConnectionStringBuilder(location, ApplicationName = name).ConnectionString

    [
        Reflection.Assembly.GetExecutingAssembly().Location
        "--sweep-worker"
        named
        root
    ]
    |> List.iter info.ArgumentList.Add
    // Only a death hands a claim over here (this machine's dead workers are taken over at once): a
    // heartbeat silenced by the freeze below, or starved on a busy machine, must not.
    info.Environment["HYBRID_GRACE_SECONDS"] <- "3600"
    // A checkpoint after every epoch, so that a trial is mid-run with a checkpoint for most of its time.
    info.Environment["HYBRID_CHECKPOINT_SECONDS"] <- "0"
    let p = Process.Start info |> nonNull
    let output = Text.StringBuilder()

    let collect (e: DataReceivedEventArgs) =
        if not (isNull e.Data) then
            lock output (fun () -> output.AppendLine e.Data |> ignore)

    p.OutputDataReceived.Add collect
    p.ErrorDataReceived.Add collect
    p.BeginOutputReadLine()
    p.BeginErrorReadLine()

    { Process = p; Name = name; Output = output }

/// Runs `body` with 4 workers of the shared sweep; kills any still there when it ends, frozen or not.
let private withWorkers (location: string) (root: string) (body: Worker list -> unit) =
    let workers =
        List.init 4 (fun i -> start location (Path.Combine(root, sprintf "worker-%d" i)) (sprintf "hybrid-worker-%d" i))

    try
        body workers
    finally
        for w in workers do
            if not w.Process.HasExited then
                w.Process.Kill true

            w.Process.Dispose()

/// Sends a worker a signal (see `signal`), naming the worker and showing its output if it has ended.
let private send (name: string) (w: Worker) =
    if w.Process.HasExited then
        failtestf "%s ended (exit code %d) before kill -%s:\n%s" w.Name w.Process.ExitCode name (string w.Output)

    signal name w.Process

let private holds (w: Worker) (t: StoredTrial) =
    t.State = TrialState.Running
    && t.Worker |> Option.exists (fun id -> (id.Split '/')[1] = string w.Process.Id)

/// A trial part-way through: a checkpoint saved, epochs still to run, so its finish cannot have been sent.
let private partWay (t: StoredTrial) = not t.History.IsEmpty && t.History.Length < (shared ()).Base.Epochs

/// A worker holding a trial part-way through, if the store shows one now.
let private midTrial (store: Store) (workers: Worker list) =
    let trials = Store.results store "shared"

    workers
    |> List.tryFind (fun w -> trials |> List.exists (fun t -> holds w t && partWay t))

/// Waits until a worker holds a trial part-way through, then freezes every worker (SIGSTOP), so that
/// no claim changes hands while the victim's are read. Returns the victim, or tries again if it moved
/// on before the freeze landed.
let rec private freezeWithOneMidTrial (store: Store) (workers: Worker list) =
    let victim =
        awaitSome "a worker holding a trial part-way through" (fun () ->
            match workers |> List.tryFind _.Process.HasExited with
            | Some ended ->
                failtestf
                    "%s ended (exit code %d) before any worker was seen mid-trial:\n%s"
                    ended.Name
                    ended.Process.ExitCode
                    (string ended.Output)
            | None -> midTrial store workers)

    workers |> List.iter (send "STOP")

    if (midTrial store [ victim ]).IsSome then
        victim
    else
        workers |> List.iter (send "CONT")
        freezeWithOneMidTrial store workers

/// Kills the frozen victim and waits until the server has dropped its connections: then everything it
/// sent is settled (an open transaction rolled back, a commit already sent, committed), and the trials
/// it still holds are exactly those cut off. The others stay frozen, so none is taken over yet.
let private killAndSettle (store: Store) (location: string) (victim: Worker) =
    victim.Process.Kill true
    victim.Process.WaitForExit()

    let connections () =
        Postgres.scalar
            location
            (sprintf "SELECT count(*) FROM pg_stat_activity WHERE application_name = '%s'" victim.Name)
        |> Convert.ToInt32

    awaitSome "the server to drop the killed worker's connections" (fun () ->
        if connections () = 0 then Some() else None)

    Store.results store "shared" |> List.filter (holds victim)

let private fingerprint (t: StoredTrial) =
    t.Key, t.State, t.ValidationAccuracy, t.ValidationLoss, t.TestAccuracy, t.TestLoss, t.KeptEpoch, t.History

let tests =
    testList "Workers" [
        testCase
            "4 workers share a 40-trial sweep; one killed mid-trial is taken over from its checkpoint; the bits match one process alone"
        <| fun () ->
            Postgres.withDatabase (fun location ->
                withRoot (fun root ->
                    use store = Store.connect location

                    withWorkers location root (fun workers ->
                        let victim = freezeWithOneMidTrial store workers
                        let cutOff = killAndSettle store location victim
                        let killed = DateTime.UtcNow
                        let survivors = workers |> List.filter (fun w -> w.Name <> victim.Name)
                        survivors |> List.iter (send "CONT")
                        let checkpointed = cutOff |> List.filter (fun t -> not t.History.IsEmpty)
                        let observer = Path.Combine(root, "observer")
                        let during = withRuns observer (fun () -> Sweep.reportOn location (shared ()))

                        Expect.stringContains
                            (File.ReadAllText during.Markdown)
                            "40 trials: "
                            "a report while the sweep runs"

                        for w in survivors do
                            Expect.isTrue
                                (w.Process.WaitForExit patience)
                                (sprintf "a surviving worker finished: %s" (string w.Output))

                            Expect.equal
                                w.Process.ExitCode
                                0
                                (sprintf "a surviving worker succeeded: %s" (string w.Output))

                        let trials = Store.results store "shared"
                        Expect.equal trials.Length 40 "40 trials"

                        Expect.allEqual
                            (trials |> List.map _.State)
                            (TrialState.Finished Completed)
                            "every trial completed"

                        let cutOffKeys = cutOff |> List.map _.Key |> Set.ofList

                        for t in trials do
                            let expected = if cutOffKeys.Contains t.Key then 2 else 1
                            Expect.equal t.Attempts expected (sprintf "trial %s claimed %d time(s)" t.Key expected)

                        let takenOver =
                            trials
                            |> List.filter (fun t -> cutOffKeys.Contains t.Key)
                            |> List.choose _.StartedUtc

                        for started in takenOver do
                            // The time from a death to its takeover, for the record (the assertion is that it happened).
                            printfn
                                "a trial of the killed worker was taken over %.2f s after the kill"
                                (started - killed).TotalSeconds

                        let logs = survivors |> List.map (fun w -> string w.Output) |> String.concat "\n"
                        Expect.isNonEmpty checkpointed "the killed worker had saved a checkpoint"

                        for t in checkpointed do
                            Expect.stringContains
                                logs
                                (sprintf "#%d seed %d: resumed after epoch" t.Configuration t.Seed)
                                "taken over from its checkpoint"

                        let after = withRuns observer (fun () -> Sweep.reportOn location (shared ()))

                        Expect.stringContains
                            (File.ReadAllText after.Markdown)
                            "40 trials: 40 completed"
                            "the report once it is done"

                        let password = string (Npgsql.NpgsqlConnectionStringBuilder location).Password

                        for file in
                            Directory.GetFiles(root, "*", SearchOption.AllDirectories)
                            |> Array.filter (fun f -> f.EndsWith ".html" || f.EndsWith ".md" || f.EndsWith ".csv") do
                            Expect.isFalse
                                ((File.ReadAllText file).Contains password)
                                (sprintf "%s holds no password" file)

                        Expect.isFalse (logs.Contains password) "the logs hold no password"
                        let alone = Path.Combine(root, "alone.db")

                        let single =
                            withRuns (Path.Combine(root, "alone")) (fun () -> Sweep.runOn alone (shared ()))

                        Expect.equal
                            (trials |> List.map fingerprint)
                            (single.Trials |> List.map fingerprint)
                            "the same metrics as one process alone"

                        use aloneStore = Store.connect alone

                        for t in trials do
                            Expect.equal
                                (Store.model store t.Key)
                                (Store.model aloneStore t.Key)
                                (sprintf "trial %s's model, byte for byte" t.Key))))
    ]
