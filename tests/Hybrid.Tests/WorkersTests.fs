/// Several worker processes sharing one sweep through a PostgreSQL store: they split its trials
/// between them, take over the trials of a worker killed without warning, and end with the same
/// bits as one process running the sweep alone, for a grid and for an adaptive search alike.
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

/// An adaptive search the workers share: TPE proposes 2 batches of 8 configurations, each halved at
/// 3, 9 and 27 epochs, 3 seeds each; 48 trials, most of them pruned.
let private sharedSearch () : Sweep = {
    shared () with
        Name = "shared-search"
        Base = { Settings.defaults with Epochs = 27; Patience = None }
        Space = [
            M, ints [ 16; 32; 64 ]
            LearningRate, LogRange(1e-3, 3e-2)
            Skip, skips [ SkipKind.Dense; SkipKind.None ]
        ]
        Strategy =
            Strategy.Adaptive {
                Sampler = Sampler.Tpe { Tpe.defaults with Startup = 8 }
                Configurations = 16
                BatchSize = 8
                Pruning = Pruning.Halving(3, 3)
                Seed = 7UL
            }
        Seeds = [ 0UL .. 2UL ]
}

let private sweepOf (kind: string) = if kind = "adaptive" then sharedSearch () else shared ()

/// A worker process (tests/Hybrid.Tests run with `--sweep-worker LOCATION ROOT KIND`): the shared
/// grid sweep, or the shared adaptive search.
let worker (location: string) (root: string) (kind: string) : int =
    Environment.SetEnvironmentVariable("HYBRID_RUNS", root)
    Sweep.runOn location (sweepOf kind) |> ignore
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

let private start (kind: string) (location: string) (root: string) (name: string) =
    let info =
        ProcessStartInfo("dotnet", RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)

    let named =
        Npgsql.NpgsqlConnectionStringBuilder(location, ApplicationName = name).ConnectionString

    [
        Reflection.Assembly.GetExecutingAssembly().Location
        "--sweep-worker"
        named
        root
        kind
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

/// Runs `body` with 4 workers of a shared sweep; kills any still there when it ends, frozen or not.
let private withWorkers (kind: string) (location: string) (root: string) (body: Worker list -> 'a) : 'a =
    let workers =
        List.init 4 (fun i ->
            start kind location (Path.Combine(root, sprintf "worker-%d" i)) (sprintf "hybrid-worker-%d" i))

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
let private partWay (sweep: Sweep) (t: StoredTrial) = not t.History.IsEmpty && t.History.Length < sweep.Base.Epochs

/// A worker holding a trial of the sweep part-way through, if the store shows one now.
let private midTrial (sweep: Sweep) (store: Store) (workers: Worker list) =
    let trials = Store.results store sweep.Name

    workers
    |> List.tryFind (fun w -> trials |> List.exists (fun t -> holds w t && partWay sweep t))

/// Waits until a worker holds a trial part-way through, then freezes every worker (SIGSTOP), so that
/// no claim changes hands while the victim's are read. Returns the victim, or tries again if it moved
/// on before the freeze landed.
let rec private freezeWithOneMidTrial (sweep: Sweep) (store: Store) (workers: Worker list) =
    let victim =
        awaitSome "a worker holding a trial part-way through" (fun () ->
            match workers |> List.tryFind _.Process.HasExited with
            | Some ended ->
                failtestf
                    "%s ended (exit code %d) before any worker was seen mid-trial:\n%s"
                    ended.Name
                    ended.Process.ExitCode
                    (string ended.Output)
            | None -> midTrial sweep store workers)

    workers |> List.iter (send "STOP")

    if (midTrial sweep store [ victim ]).IsSome then
        victim
    else
        workers |> List.iter (send "CONT")
        freezeWithOneMidTrial sweep store workers

/// Kills the frozen victim and waits until the server has dropped its connections: then everything it
/// sent is settled (an open transaction rolled back, a commit already sent, committed), and the trials
/// it still holds are exactly those cut off. The others stay frozen, so none is taken over yet.
let private killAndSettle (sweep: Sweep) (store: Store) (location: string) (victim: Worker) =
    victim.Process.Kill true
    victim.Process.WaitForExit()

    let connections () =
        Postgres.scalar
            location
            (sprintf "SELECT count(*) FROM pg_stat_activity WHERE application_name = '%s'" victim.Name)
        |> Convert.ToInt32

    awaitSome "the server to drop the killed worker's connections" (fun () ->
        if connections () = 0 then Some() else None)

    Store.results store sweep.Name |> List.filter (holds victim)

/// What must not depend on how the sweep ran: every trial's state and figures (as bits: a pruned
/// trial has no test figure, and NaN ≠ NaN), and every epoch.
let private fingerprint (t: StoredTrial) =
    let bits = Option.map BitConverter.DoubleToInt64Bits

    t.Key,
    t.State,
    bits t.ValidationAccuracy,
    bits t.ValidationLoss,
    bits t.TestAccuracy,
    bits t.TestLoss,
    t.KeptEpoch,
    t.History

/// What 4 workers sharing a sweep left in the store after one of them was killed mid-trial.
type private Shared = {
    Trials: StoredTrial list
    /// The trials the killed worker held when it died.
    CutOff: StoredTrial list
    Killed: DateTime
    /// The surviving workers' output.
    Logs: string
}

/// Runs the sweep on 4 workers sharing `location`, kills one mid-trial while all are frozen, lets
/// the others finish, and checks what any shared sweep must show: the survivors succeed, a trial
/// the victim had checkpointed goes on from its checkpoint, and no file or log holds the password.
let private runShared (kind: string) (location: string) (root: string) (store: Store) : Shared =
    let sweep = sweepOf kind
    let observer = Path.Combine(root, "observer")

    let shared =
        withWorkers kind location root (fun workers ->
            let victim = freezeWithOneMidTrial sweep store workers
            let cutOff = killAndSettle sweep store location victim
            let killed = DateTime.UtcNow
            let survivors = workers |> List.filter (fun w -> w.Name <> victim.Name)
            survivors |> List.iter (send "CONT")
            let during = withRuns observer (fun () -> Sweep.reportOn location sweep)
            Expect.stringContains (File.ReadAllText during.Markdown) " trials: " "a report while the sweep runs"

            for w in survivors do
                Expect.isTrue
                    (w.Process.WaitForExit patience)
                    (sprintf "a surviving worker finished: %s" (string w.Output))

                Expect.equal w.Process.ExitCode 0 (sprintf "a surviving worker succeeded: %s" (string w.Output))

            let logs = survivors |> List.map (fun w -> string w.Output) |> String.concat "\n"
            let checkpointed = cutOff |> List.filter (fun t -> not t.History.IsEmpty)
            Expect.isNonEmpty checkpointed "the killed worker had saved a checkpoint"

            for t in checkpointed do
                Expect.stringContains
                    logs
                    (sprintf "#%d seed %d: resumed after epoch" t.Configuration t.Seed)
                    "taken over from its checkpoint"

            {
                Trials = Store.results store sweep.Name
                CutOff = cutOff
                Killed = killed
                Logs = logs
            })

    let password = string (Npgsql.NpgsqlConnectionStringBuilder location).Password

    for file in
        Directory.GetFiles(root, "*", SearchOption.AllDirectories)
        |> Array.filter (fun f -> f.EndsWith ".html" || f.EndsWith ".md" || f.EndsWith ".csv") do
        Expect.isFalse ((File.ReadAllText file).Contains password) (sprintf "%s holds no password" file)

    Expect.isFalse (shared.Logs.Contains password) "the logs hold no password"
    shared

/// The same sweep run by one process alone on a SQLite file: its trials, and its store for the models.
let private alone (kind: string) (root: string) =
    let file = Path.Combine(root, "alone.db")

    let single =
        withRuns (Path.Combine(root, "alone")) (fun () -> Sweep.runOn file (sweepOf kind))

    single, Store.connect file

let private sameBitsAsAlone (store: Store) (trials: StoredTrial list) (single: SweepOutcome) (aloneStore: Store) =
    Expect.equal (trials |> List.map _.Key) (single.Trials |> List.map _.Key) "the same trials, in the same order"

    for t, alone in List.zip trials single.Trials do
        Expect.equal (fingerprint t) (fingerprint alone) (sprintf "trial %s's metrics, bit for bit" t.Key)

    for t in trials do
        Expect.equal
            (Store.model store t.Key)
            (Store.model aloneStore t.Key)
            (sprintf "trial %s's model, byte for byte" t.Key)

let tests =
    testList "Workers" [
        testCase
            "4 workers share a 40-trial sweep; one killed mid-trial is taken over from its checkpoint; the bits match one process alone"
        <| fun () ->
            Postgres.withDatabase (fun location ->
                withRoot (fun root ->
                    use store = Store.connect location
                    let outcome = runShared "grid" location root store
                    let trials = outcome.Trials
                    Expect.equal trials.Length 40 "40 trials"

                    Expect.allEqual
                        (trials |> List.map _.State)
                        (TrialState.Finished Completed)
                        "every trial completed"

                    let cutOffKeys = outcome.CutOff |> List.map _.Key |> Set.ofList

                    for t in trials do
                        let expected = if cutOffKeys.Contains t.Key then 2 else 1
                        Expect.equal t.Attempts expected (sprintf "trial %s claimed %d time(s)" t.Key expected)

                    for started in
                        trials
                        |> List.filter (fun t -> cutOffKeys.Contains t.Key)
                        |> List.choose _.StartedUtc do
                        // The time from a death to its takeover, for the record (the assertion is that it happened).
                        printfn
                            "a trial of the killed worker was taken over %.2f s after the kill"
                            (started - outcome.Killed).TotalSeconds

                    let after =
                        withRuns (Path.Combine(root, "observer")) (fun () -> Sweep.reportOn location (shared ()))

                    Expect.stringContains
                        (File.ReadAllText after.Markdown)
                        "40 trials: 40 completed"
                        "the report once it is done"

                    let single, aloneStore = alone "grid" root
                    use aloneStore = aloneStore
                    sameBitsAsAlone store trials single aloneStore))
        testCase
            "4 workers share an adaptive search; one killed mid-trial changes no decision and no bit against one process alone"
        <| fun () ->
            Postgres.withDatabase (fun location ->
                withRoot (fun root ->
                    use store = Store.connect location
                    let search = sharedSearch ()
                    let outcome = runShared "adaptive" location root store
                    Expect.equal outcome.Trials.Length 48 "16 configurations × 3 seeds"

                    Expect.isTrue
                        (outcome.Trials
                         |> List.forall (fun t ->
                             t.State = TrialState.Finished Completed || t.State = TrialState.Finished Pruned))
                        "every trial completed or was pruned"

                    Expect.isTrue
                        (outcome.Trials |> List.exists (fun t -> t.State = TrialState.Finished Pruned))
                        "some were pruned"

                    for t in outcome.CutOff do
                        let taken = outcome.Trials |> List.find (fun s -> s.Key = t.Key)
                        Expect.isGreaterThan taken.Attempts 1 (sprintf "trial %s was claimed again" t.Key)

                    let agree, detail = Verify.decisions store search
                    Expect.isTrue agree (sprintf "the decisions re-derive from the results: %s" detail)
                    let single, aloneStore = alone "adaptive" root
                    use aloneStore = aloneStore

                    Expect.equal
                        (Store.decisions store search.Name)
                        (Store.decisions aloneStore search.Name)
                        "the same decisions as one process alone"

                    sameBitsAsAlone store outcome.Trials single aloneStore))
    ]
